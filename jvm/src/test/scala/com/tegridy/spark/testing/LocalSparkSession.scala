package com.tegridy.spark.testing

import org.apache.spark.sql.SparkSession
import org.scalatest.{BeforeAndAfterAll, Suite}

import com.tegridy.spark.TegridyExtensions

/** One local[2] SparkSession with the extension, shared by a suite, with a fake Lambda behind it. */
trait LocalSparkSession extends BeforeAndAfterAll { self: Suite =>
  @transient protected var spark: SparkSession = _
  @transient protected var lambda: FakeLambda = _

  /** local[N, F]: F > 1 lets a failed task be retried (as on a cluster). */
  protected def master: String = "local[2]"

  /** Detokenize calls go to their own function, as the local service and AWS deployments split them. */
  protected def detokenizeFunctionName: String = s"${lambda.functionName}-detokenize"

  /** More settings for the suite's session. */
  protected def extraConf: Map[String, String] = Map.empty

  override protected def beforeAll(): Unit = {
    super.beforeAll()
    lambda = new FakeLambda()
    spark = SparkSession.builder()
      .master(master)
      .appName(getClass.getSimpleName)
      .config("spark.ui.enabled", "false")
      .config("spark.sql.shuffle.partitions", "2")
      .config("spark.sql.extensions", classOf[TegridyExtensions].getName)
      .config("spark.tegridy.lambda.functionName", lambda.functionName)
      .config("spark.tegridy.lambda.detokenizeFunctionName", detokenizeFunctionName)
      .config("spark.tegridy.lambda.endpoint", lambda.endpoint)
      .config(extraConf)
      .getOrCreate()
  }

  /** The session's Tegridy configuration as the functions see it (to find its runtime). */
  protected def sessionConf(): com.tegridy.spark.config.TegridyConf = {
    SparkSession.setActiveSession(spark)
    com.tegridy.spark.config.TegridyConf.forSession()
  }

  /** Runs `body` with these session settings, then puts back what was there before. */
  protected def withConf[T](pairs: (String, String)*)(body: => T): T = {
    val previous = pairs.map { case (k, _) => k -> spark.conf.getOption(k) }
    pairs.foreach { case (k, v) => spark.conf.set(k, v) }
    try body finally previous.foreach {
      case (k, Some(v)) => spark.conf.set(k, v)
      case (k, None) => spark.conf.unset(k)
    }
  }

  override protected def afterAll(): Unit = {
    try {
      if (spark != null) spark.stop()
      if (lambda != null) lambda.close()
    } finally super.afterAll()
  }
}
