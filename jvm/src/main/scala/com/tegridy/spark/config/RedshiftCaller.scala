package com.tegridy.spark.config

import scala.util.Try

import org.apache.spark.TaskContext
import org.apache.spark.sql.SparkSession

/**
 * Who is asking, in the terms of a Redshift Lambda-UDF request: the Spark application id (as
 * `cluster`), the Spark user (`user`) and the current database (`database`). Only the driver
 * knows them all, so they are captured once, when a query is analysed, and travel with its
 * settings; the query's execution id (`query_id`) is each task's, read once per task.
 */
final case class RedshiftCaller(cluster: String, user: String, database: String)

object RedshiftCaller {
  /** `batch.maxRows` under protocol=redshift unless set: Redshift's MAX_BATCH_ROWS default, no limit. */
  val UnlimitedRows: Int = Int.MaxValue

  /** Spark's local property that names the SQL execution a job runs for. */
  val ExecutionIdProperty = "spark.sql.execution.id"

  /** The caller as the analysing session sees it; "unknown" where there is no session. */
  def ofActiveSession(): RedshiftCaller =
    SparkSession.getActiveSession.orElse(SparkSession.getDefaultSession) match {
      case Some(session) =>
        val context = session.sparkContext
        RedshiftCaller(context.applicationId, context.sparkUser,
          Try(session.catalog.currentDatabase).getOrElse("default"))
      case None => RedshiftCaller("unknown", "unknown", "default")
    }

  /**
   * The SQL execution id of the query the current thread works for: the task's local property
   * on an executor, the job's on the driver (a call evaluated off a task); None outside a query.
   */
  def currentQueryId(): Option[Long] = {
    val text = Option(TaskContext.get()) match {
      case Some(task) => task.getLocalProperty(ExecutionIdProperty)
      case None => SparkSession.getActiveSession.map(_.sparkContext.getLocalProperty(ExecutionIdProperty)).orNull
    }
    Option(text).flatMap(t => Try(t.trim.toLong).toOption)
  }
}
