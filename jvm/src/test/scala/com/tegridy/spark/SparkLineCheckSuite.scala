package com.tegridy.spark

import org.scalatest.funsuite.AnyFunSuite

/** The jar knows the Spark line it is built for and refuses another one with the jar to use instead. */
class SparkLineCheckSuite extends AnyFunSuite {
  test("the jar is built for the Spark it is tested against") {
    assert(BuiltFor.sparkLine == sys.props.getOrElse("tegridy.spark.line", BuiltFor.sparkLine))
    assert(org.apache.spark.SPARK_VERSION == BuiltFor.sparkVersion)
    SparkLineCheck.requireRunning()
  }

  test("another line is refused, naming the jar for it") {
    val other = if (BuiltFor.sparkLine == "3.5") "4.2.0" else "3.5.9"
    val error = intercept[IllegalStateException](SparkLineCheck.requireRunning(other))
    val otherLine = other.take(3)
    assert(error.getMessage.contains(s"tegridy-tokens-spark-$otherLine.jar"), error.getMessage)
    assert(error.getMessage.contains(s"--spark $otherLine"), error.getMessage)
  }

  test("an unsupported Spark is refused with the supported lines and a command that prints a real jar") {
    val error = intercept[IllegalStateException](SparkLineCheck.requireRunning("4.3.0"))
    val message = error.getMessage
    assert(message.contains("Spark 4.3.0") && message.contains("3.5, 4.0, 4.1, 4.2"), message)
    assert(!message.contains("tegridy-tokens-spark-4.3.jar") && !message.contains("--spark 4.3"), message)
    assert(message.contains("tegridy-tokens jar"), message)
  }
}
