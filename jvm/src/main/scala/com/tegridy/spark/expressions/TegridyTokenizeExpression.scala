package com.tegridy.spark.expressions

import org.apache.spark.sql.catalyst.expressions.Expression

import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.metrics.TegridyAccumulator
import com.tegridy.spark.client.Operation

/** `tegridy_tokenize_hp(value)`: the value's token from the tokenization service. */
case class TegridyTokenizeExpression(child: Expression, conf: TegridyConf, metrics: TegridyAccumulator)
  extends TegridyStringFunction {
  override def prettyName: String = TegridyTokenizeExpression.Name
  override def operation: Operation = Operation.Tokenize

  override protected def withNewChildInternal(newChild: Expression): TegridyTokenizeExpression =
    copy(child = newChild)
}

object TegridyTokenizeExpression {
  val Name = "tegridy_tokenize_hp"
}

/**
 * `tegridy_tokenize_result(value)`: STRUCT<token, error>, the token, or NULL and the reason the
 * value failed (never the value). Built with onError=null settings, so a failed value never fails
 * the query; an outage still does.
 */
case class TegridyTokenizeResultExpression(child: Expression, conf: TegridyConf, metrics: TegridyAccumulator)
  extends TegridyStringFunction {
  override def prettyName: String = "tegridy_tokenize_result"
  override def operation: Operation = Operation.Tokenize
  override def perRowErrors: Boolean = true

  override protected def withNewChildInternal(newChild: Expression): TegridyTokenizeResultExpression =
    copy(child = newChild)
}
