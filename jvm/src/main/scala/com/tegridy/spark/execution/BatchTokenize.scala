package com.tegridy.spark.execution

import org.apache.spark.sql.catalyst.expressions.{Attribute, AttributeSet, Expression}
import org.apache.spark.sql.catalyst.plans.logical.{LogicalPlan, UnaryNode}

/**
 * The logical node the rule puts below an operator that called the token functions: it
 * evaluates `calls` (each over its child's columns) and appends their results as
 * `resultAttrs`, so the operator above reads plain columns. Planned as [[BatchTokenizeExec]].
 * `rowLimit`: a LIMIT above it, through operators that pass rows one by one, caps its read-ahead.
 */
case class BatchTokenize(calls: Seq[Expression], resultAttrs: Seq[Attribute], child: LogicalPlan,
    rowLimit: Option[Int] = None) extends UnaryNode {
  override def output: Seq[Attribute] = child.output ++ resultAttrs
  override def producedAttributes: AttributeSet = AttributeSet(resultAttrs)
  override protected def withNewChildInternal(newChild: LogicalPlan): BatchTokenize = copy(child = newChild)
}
