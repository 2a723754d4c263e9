package com.tegridy.spark.execution

import org.apache.spark.sql.catalyst.expressions.Attribute
import org.apache.spark.sql.catalyst.plans.logical.{LocalRelation, LogicalPlan, UnaryNode}
import org.apache.spark.sql.catalyst.rules.Rule

import com.tegridy.spark.execution.GuardedCalls.hasCall

/**
 * Stands between a local table (VALUES, a small createDataFrame) and the operators above it in
 * a query that calls our functions. Without it Spark's ConvertToLocalRelation evaluates those
 * operators' calls row by row while it plans (so EXPLAIN alone calls the service); with it the
 * calls are batched by BatchTokenizeExec when the query runs. Planned as its child.
 */
case class LocalRowsBarrier(child: LogicalPlan) extends UnaryNode {
  override def output: Seq[Attribute] = child.output
  override protected def withNewChildInternal(newChild: LogicalPlan): LocalRowsBarrier = copy(child = newChild)
}

/** Puts the barrier above every local table of a plan that holds a call (post-hoc resolution). */
object ShieldLocalRows extends Rule[LogicalPlan] {
  override def apply(plan: LogicalPlan): LogicalPlan =
    if (!plan.exists(_.expressions.exists(hasCall))) plan
    else plan.transformUp {
      case node if !node.isInstanceOf[LocalRowsBarrier] && node.children.exists(_.isInstanceOf[LocalRelation]) =>
        node.withNewChildren(node.children.map {
          case local: LocalRelation => LocalRowsBarrier(local)
          case other => other
        })
    }
}
