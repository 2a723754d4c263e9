package com.tegridy.spark.execution

import org.apache.spark.TaskContext
import org.apache.spark.rdd.RDD
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.{Attribute, AttributeSet, Expression, SortOrder}
import org.apache.spark.sql.catalyst.plans.physical.Partitioning
import org.apache.spark.sql.execution.{SparkPlan, UnaryExecNode}
import org.apache.spark.sql.execution.metric.{SQLMetric, SQLMetrics}

import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}
import com.tegridy.spark.metrics.TegridyStats.Counter

/**
 * The physical operator for [[BatchTokenize]]: streams each partition through a
 * [[BatchTokenizeIterator]] and reports its figures as SQL metrics (Spark UI) and to the
 * session's [[TegridyAccumulator]] (`tegridy_tokens.metrics(spark)`) when the task ends.
 */
case class BatchTokenizeExec(calls: Seq[Expression], resultAttrs: Seq[Attribute], child: SparkPlan, rowLimit: Option[Int])
  extends UnaryExecNode {

  override def output: Seq[Attribute] = child.output ++ resultAttrs
  override def producedAttributes: AttributeSet = AttributeSet(resultAttrs)
  // Rows pass through in order with all their columns: the child's layout still holds.
  override def outputPartitioning: Partitioning = child.outputPartitioning
  override def outputOrdering: Seq[SortOrder] = child.outputOrdering

  override lazy val metrics: Map[String, SQLMetric] = Counter.all.map { counter =>
    counter.key -> (counter match {
      case Counter.BytesSent | Counter.BytesReceived => SQLMetrics.createSizeMetric(sparkContext, counter.label)
      case Counter.InvocationNanos => SQLMetrics.createNanoTimingMetric(sparkContext, "time in invocations")
      case Counter.TaskNanos => SQLMetrics.createNanoTimingMetric(sparkContext, "time in tasks")
      case _ => SQLMetrics.createMetric(sparkContext, counter.label)
    })
  }.toMap

  // Resolved on the driver when the plan executes; a copy travels with every task.
  @transient private lazy val accumulator = TegridyAccumulator.forContext(sparkContext)

  override protected def doExecute(): RDD[InternalRow] = {
    val sqlMetrics = metrics
    val sessionMetrics = accumulator
    val (calls, childOutput, output, rowLimit) = (this.calls, child.output, this.output, this.rowLimit)
    child.execute().mapPartitions({ rows =>
      val stats = new TegridyStats
      val started = System.nanoTime()
      val iterator = new BatchTokenizeIterator(rows, calls, childOutput, output, stats, rowLimit)
      TaskContext.get().addTaskCompletionListener[Unit] { task =>
        iterator.close()
        stats.add(Counter.TaskNanos, System.nanoTime() - started)
        Counter.all.foreach(counter => sqlMetrics(counter.key).add(stats.get(counter)))
        // A failed attempt's rows are counted again by its retry; its calls and retries happened once.
        sessionMetrics.add(if (task.isFailed()) stats.withoutWork else stats)
      }
      iterator
    }, preservesPartitioning = true)
  }

  override protected def withNewChildInternal(newChild: SparkPlan): BatchTokenizeExec = copy(child = newChild)
}
