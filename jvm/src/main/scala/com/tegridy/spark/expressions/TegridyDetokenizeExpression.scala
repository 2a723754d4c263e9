package com.tegridy.spark.expressions

import org.apache.spark.sql.catalyst.expressions.Expression

import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.runtime.TegridyRuntime

/** `tegridy_detokenize_hp(token)`: the value behind a token; an unknown token is an error. */
case class TegridyDetokenizeExpression(child: Expression, conf: TegridyConf) extends TegridyStringFunction {
  override def prettyName: String = TegridyDetokenizeExpression.Name

  override protected def resolve(runtime: TegridyRuntime, token: String): Option[String] =
    runtime.detokenizeOne(token, prettyName)

  override protected def withNewChildInternal(newChild: Expression): TegridyDetokenizeExpression =
    copy(child = newChild)
}

object TegridyDetokenizeExpression {
  val Name = "tegridy_detokenize_hp"
}
