package com.tegridy.spark.execution

import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.execution.{SparkPlan, SparkStrategy}

/** Plans the logical [[BatchTokenize]] node as [[BatchTokenizeExec]]. */
case class BatchTokenizeStrategy(session: SparkSession) extends SparkStrategy {
  override def apply(plan: LogicalPlan): Seq[SparkPlan] = plan match {
    case BatchTokenize(calls, resultAttrs, child) => BatchTokenizeExec(calls, resultAttrs, planLater(child)) :: Nil
    case _ => Nil
  }
}
