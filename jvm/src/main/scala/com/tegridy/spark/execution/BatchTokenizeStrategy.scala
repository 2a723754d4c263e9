package com.tegridy.spark.execution

import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.plans.logical.{Filter, Join, LogicalPlan, Project}
import org.apache.spark.sql.execution.{SparkPlan, SparkStrategy}

import com.tegridy.spark.execution.GuardedCalls.hasCall

/**
 * Plans [[BatchTokenize]] as [[BatchTokenizeExec]] and the [[LocalRowsBarrier]] as its child.
 *
 * It is also the last chance to batch: optimizer rules that run after ours can put a call back
 * into an operator (a correlated EXISTS becomes a join whose condition holds the subquery's
 * call). Such a Project, Filter or Join is extracted here, as the rule would have, and planned
 * again; one whose calls cannot move is left to the other strategies (and `eval`). Likewise the
 * limit Spark infers for a window (`WHERE row_number() <= N`), after every rule of ours has run,
 * gets the calls below it lifted above it (DeferPastLimits).
 */
case class BatchTokenizeStrategy(session: SparkSession) extends SparkStrategy {
  override def apply(plan: LogicalPlan): Seq[SparkPlan] = plan match {
    case BatchTokenize(calls, resultAttrs, child, rowLimit) =>
      BatchTokenizeExec.of(calls, resultAttrs, planLater(child), rowLimit) :: Nil
    case LocalRowsBarrier(child) => planLater(child) :: Nil
    case keeper if DeferPastLimits.lifted(keeper).isDefined => planLater(DeferPastLimits.lifted(keeper).get) :: Nil
    case operator @ (_: Project | _: Filter | _: Join) if operator.expressions.exists(hasCall) =>
      val extracted = ExtractTokenCalls.extract(operator)
      if (extracted eq operator) Nil else planLater(extracted) :: Nil
    case _ => Nil
  }
}
