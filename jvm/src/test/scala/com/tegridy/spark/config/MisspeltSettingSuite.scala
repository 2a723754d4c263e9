package com.tegridy.spark.config

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.testing.LocalSparkSession

/**
 * A misspelt setting belongs to the queries that call a function: they fail, naming the key and the
 * one meant; a valid query without a call is never affected (Spark has no hook to refuse the
 * `spark.conf.set` itself).
 */
class MisspeltSettingSuite extends AnyFunSuite with LocalSparkSession {
  private def chain(error: Throwable): String =
    Iterator.iterate[Throwable](error)(_.getCause).takeWhile(_ != null).map(_.getMessage).mkString(" | ")

  test("a misspelt key fails only the queries that call a function, naming the key meant") {
    spark.range(0, 10, 1, 2).selectExpr("concat('m-', id) AS v").createOrReplaceTempView("plain")
    withConf("spark.tegridy.batch.maxRow" -> "5") {
      assert(spark.sql("SELECT count(*) FROM plain").collect().head.getLong(0) == 10)
      assert(spark.sql("SELECT v FROM plain WHERE v LIKE 'm-%' LIMIT 3").collect().length == 3)
      assert(spark.range(5).selectExpr("id * 2").collect().length == 5)
      val message = chain(intercept[Exception](spark.sql("SELECT tegridy_tokenize_hp(v) FROM plain").collect()))
      assert(message.contains("spark.tegridy.batch.maxRow") && message.contains("did you mean spark.tegridy.batch.maxRows"), message)
    }
    assert(spark.sql("SELECT tegridy_tokenize_hp(v) FROM plain").collect().length == 10)
  }
}
