package com.tegridy.spark.shims

import org.apache.spark.sql.SparkSession

/**
 * The in-JVM session with its `sessionState` and `experimental` hooks. Spark 3.5 has one
 * SparkSession class, which is it; Spark 4 split it into an API and `sql.classic` (spark-4.x shim).
 */
object ClassicSession {
  type Classic = SparkSession
  def apply(session: SparkSession): Classic = session
}
