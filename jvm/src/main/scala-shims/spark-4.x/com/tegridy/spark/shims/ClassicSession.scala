package com.tegridy.spark.shims

import org.apache.spark.sql.SparkSession

/**
 * The in-JVM session with its `sessionState` and `experimental` hooks: Spark 4's
 * `sql.classic.SparkSession` (Spark 3.5 has one SparkSession class: spark-3.5 shim).
 */
object ClassicSession {
  type Classic = org.apache.spark.sql.classic.SparkSession
  def apply(session: SparkSession): Classic = session.asInstanceOf[Classic]
}
