package com.tegridy.spark.expressions

import org.apache.spark.sql.catalyst.expressions.Expression

import com.tegridy.spark.client.Operation
import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.metrics.TegridyAccumulator

/**
 * `safe_detokenize(token [, role])`: detokenize, except that a caller who may not invoke the
 * detokenize function gets '[REDACTED]' instead of a failed query. Any other failure fails as
 * detokenize does. Same batches, cache and in-flight sharing as detokenize.
 *
 * `role` is a label the caller claims (for the audit only: it grants nothing). It travels in
 * `conf.claimedRole`, so the call has its own runtime and every detokenize request it makes
 * carries `"role"` beside `"tokens"` (docs/security.md).
 */
case class TegridySafeDetokenizeExpression(child: Expression, role: Option[String], conf: TegridyConf,
    metrics: TegridyAccumulator) extends TegridyStringFunction {
  override def prettyName: String = TegridySafeDetokenizeExpression.Name
  override def operation: Operation = Operation.Detokenize
  override def redactsDenied: Boolean = true

  override protected def withNewChildInternal(newChild: Expression): TegridySafeDetokenizeExpression =
    copy(child = newChild)
}

object TegridySafeDetokenizeExpression {
  val Name = "safe_detokenize"
}
