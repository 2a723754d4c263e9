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
