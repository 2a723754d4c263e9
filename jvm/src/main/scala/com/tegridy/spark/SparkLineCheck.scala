package com.tegridy.spark

/**
 * Refuses to run on a Spark line the jar is not built for: Catalyst's internals change between
 * lines, and the wrong jar would otherwise fail later with a NoSuchMethodError deep in a query.
 */
object SparkLineCheck {
  /** The jar names and lines as the Python package ships them (python/tegridy_tokens/jar.py). */
  def jarName(line: String): String = s"tegridy-tokens-spark-$line.jar"

  def requireRunning(runningSparkVersion: String = org.apache.spark.SPARK_VERSION): Unit = {
    val runningLine = runningSparkVersion.split('.').take(2).mkString(".")
    if (!BuiltFor.supportedLines.contains(runningLine)) {
      throw new IllegalStateException(
        s"Spark $runningSparkVersion is not supported: tegridy-tokens is built for the Spark lines " +
          s"${BuiltFor.supportedLines.mkString(", ")}. Run one of those (`tegridy-tokens jar --spark X.Y` prints the " +
          s"jar for line X.Y; tegridy_tokens.configure_spark picks it for the running pyspark).")
    }
    if (runningLine != BuiltFor.sparkLine) {
      throw new IllegalStateException(
        s"${jarName(BuiltFor.sparkLine)} is built for Spark ${BuiltFor.sparkLine}, but this is Spark " +
          s"$runningSparkVersion: put ${jarName(runningLine)} on the classpath instead (`tegridy-tokens jar " +
          s"--spark $runningLine` prints its path; tegridy_tokens.configure_spark picks it for the running pyspark).")
    }
  }
}
