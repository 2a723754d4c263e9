package com.tegridy.spark.expressions

import org.apache.spark.sql.AnalysisException
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.errors.TegridyTokenizationException
import com.tegridy.spark.testing.{FakeLambda, LocalSparkSession}

/** The SQL functions through the batching path against a fake Lambda over HTTP. */
class TokenFunctionsSuite extends AnyFunSuite with LocalSparkSession {
  private val canary = "canary-91c2@example.com"

  test("tokenize and detokenize a column, NULL and blanks untouched and never sent") {
    lambda.batches.clear()
    val rows = spark.sql(
      """SELECT v, tegridy_tokenize_hp(v) AS t, tegridy_detokenize_hp(tegridy_tokenize(v)) AS back
        |FROM VALUES ('a@x.com'), (NULL), (''), ('   '), ('ü@x.com') AS data(v)""".stripMargin).collect()
    val byValue = rows.map(r => Option(r.getString(0)) -> (Option(r.getString(1)), Option(r.getString(2)))).toMap
    assert(byValue(Some("a@x.com")) == (Some("T(a@x.com)"), Some("a@x.com")))
    assert(byValue(Some("ü@x.com")) == (Some("T(ü@x.com)"), Some("ü@x.com")))
    assert(byValue(None) == (None, None))
    assert(byValue(Some("")) == (Some(""), Some("")))
    assert(byValue(Some("   ")) == (Some("   "), Some("   ")))
    val sent = lambda.batches.toArray.toSeq.flatMap(_.asInstanceOf[Seq[String]])
    assert(!sent.exists(v => v == null || v.trim.isEmpty))
  }

  test("a non-string argument is an analysis error that suggests a CAST") {
    val error = intercept[AnalysisException](spark.sql("SELECT tegridy_tokenize_hp(42)").collect())
    assert(error.getMessage.contains("takes a STRING or ARRAY<STRING> argument"))
    assert(error.getMessage.contains("CAST"))
  }

  test("DESCRIBE FUNCTION EXTENDED explains usage and arguments") {
    val text = spark.sql("DESCRIBE FUNCTION EXTENDED tegridy_tokenize_hp").collect().map(_.getString(0)).mkString("\n")
    assert(text.contains("Returns the token for `value`"))
    assert(text.contains("Arguments:"))
  }

  test("a value the service refuses fails the query without naming the value") {
    lambda.respond = _ => FakeLambda.Reply(200, Map.empty, """{"responses":[{"success":false,"error":"refused"}]}""")
    try {
      val error = intercept[Exception](spark.sql(s"SELECT tegridy_tokenize_hp('$canary-1')").collect())
      val chain = Iterator.iterate[Throwable](error)(_.getCause).takeWhile(_ != null).toSeq
      val tokenization = chain.collectFirst { case e: TegridyTokenizationException => e }
      assert(tokenization.isDefined, chain.map(_.getClass.getName).mkString(" <- "))
      assert(tokenization.get.getMessage.contains("tegridy_tokenize_hp failed for 1 value(s)"))
      assert(tokenization.get.getMessage.contains(lambda.endpoint))
      assert(!chain.exists(e => String.valueOf(e.getMessage).contains(canary)))
    } finally lambda.respond = values => FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values))
  }

  test("onError=null yields NULL for exactly the refused value") {
    lambda.respond = _ => FakeLambda.Reply(200, Map.empty, """{"responses":[{"success":false,"error":"refused"}]}""")
    try withConf("spark.tegridy.onError" -> "null") {
      assert(spark.sql(s"SELECT tegridy_tokenize_hp('$canary-2')").collect().head.isNullAt(0))
    } finally lambda.respond = values => FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values))
  }

  test("an unknown token fails by default and is NULL under onError=null") {
    intercept[Exception](spark.sql("SELECT tegridy_detokenize_hp('not-a-token')").collect())
    withConf("spark.tegridy.onError" -> "null") {
      assert(spark.sql("SELECT tegridy_detokenize_hp('not-a-token-2')").collect().head.isNullAt(0))
    }
  }

  test("throttling is retried and the answer is exact") {
    var throttles = 2
    lambda.respond = values => synchronized {
      if (throttles > 0) { throttles -= 1; FakeLambda.throttled } else FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values))
    }
    try {
      assert(spark.sql("SELECT tegridy_tokenize_hp('retry@x.com')").collect().head.getString(0) == "T(retry@x.com)")
      assert(throttles == 0)
    } finally lambda.respond = values => FakeLambda.Reply(200, Map.empty, lambda.tokenizeBody(values))
  }
}
