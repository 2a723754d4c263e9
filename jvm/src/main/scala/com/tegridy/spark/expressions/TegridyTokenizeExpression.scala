package com.tegridy.spark.expressions

import org.apache.spark.sql.catalyst.expressions.{Expression, InheritAnalysisRules, RuntimeReplaceable}

import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.metrics.TegridyAccumulator
import com.tegridy.spark.client.Operation

/**
 * `tegridy_tokenize_hp(value)`: the value's token from the tokenization service. `name` is the
 * function the user called (`tegridy_try_tokenize`, `tokenize_pii`, …), for column labels and errors.
 */
case class TegridyTokenizeExpression(child: Expression, conf: TegridyConf, metrics: TegridyAccumulator,
    name: String = TegridyTokenizeExpression.Name) extends TegridyStringFunction {
  override def prettyName: String = name
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

/**
 * `tokenize_pii(value, data_type)`: labelled and described as itself; Spark replaces it by the
 * conditional call it stands for before the optimizer runs.
 */
case class TokenizePii(value: Expression, kind: Expression, replacement: Expression)
  extends RuntimeReplaceable with InheritAnalysisRules {
  override def prettyName: String = TokenizePii.Name
  override def parameters: Seq[Expression] = Seq(value, kind)
  override protected def withNewChildInternal(newChild: Expression): TokenizePii = copy(replacement = newChild)
}

object TokenizePii {
  val Name = "tokenize_pii"
}
