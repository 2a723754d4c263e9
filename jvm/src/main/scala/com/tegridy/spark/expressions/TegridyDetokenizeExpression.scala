package com.tegridy.spark.expressions

import org.apache.spark.sql.catalyst.expressions.Expression

import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.metrics.TegridyAccumulator
import com.tegridy.spark.client.Operation

/** `tegridy_detokenize_hp(token)`: the value behind a token; an unknown token is an error. */
case class TegridyDetokenizeExpression(child: Expression, conf: TegridyConf, metrics: TegridyAccumulator)
  extends TegridyStringFunction {
  override def prettyName: String = TegridyDetokenizeExpression.Name
  override def operation: Operation = Operation.Detokenize

  override protected def withNewChildInternal(newChild: Expression): TegridyDetokenizeExpression =
    copy(child = newChild)
}

object TegridyDetokenizeExpression {
  val Name = "tegridy_detokenize_hp"
}
