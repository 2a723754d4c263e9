package com.tegridy.spark.testing

import org.apache.spark.sql.SparkSession
import org.scalatest.{BeforeAndAfterAll, Suite}

import com.tegridy.spark.TegridyExtensions

/** One local[2] SparkSession with the extension, shared by a suite, with a fake Lambda behind it. */
trait LocalSparkSession extends BeforeAndAfterAll { self: Suite =>
  @transient protected var spark: SparkSession = _
  @transient protected var lambda: FakeLambda = _

  override protected def beforeAll(): Unit = {
    super.beforeAll()
    lambda = new FakeLambda()
    spark = SparkSession.builder()
      .master("local[2]")
      .appName(getClass.getSimpleName)
      .config("spark.ui.enabled", "false")
      .config("spark.sql.shuffle.partitions", "2")
      .config("spark.sql.extensions", classOf[TegridyExtensions].getName)
      .config("spark.tegridy.lambda.functionName", lambda.functionName)
      .config("spark.tegridy.lambda.endpoint", lambda.endpoint)
      .getOrCreate()
  }

  /** Runs `body` with these session settings, then removes them. */
  protected def withConf[T](pairs: (String, String)*)(body: => T): T = {
    pairs.foreach { case (k, v) => spark.conf.set(k, v) }
    try body finally pairs.foreach { case (k, _) => spark.conf.unset(k) }
  }

  override protected def afterAll(): Unit = {
    try {
      if (spark != null) spark.stop()
      if (lambda != null) lambda.close()
    } finally super.afterAll()
  }
}
