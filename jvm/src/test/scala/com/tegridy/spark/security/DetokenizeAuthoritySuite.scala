package com.tegridy.spark.security

import scala.jdk.CollectionConverters._

import org.apache.spark.sql.DataFrame
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.errors.TegridyTokenizationException
import com.tegridy.spark.execution.BatchTokenizeExec
import com.tegridy.spark.testing.{FakeLambda, LocalSparkSession}

/**
 * Who may detokenize: detokenize calls go to their own function, detokenize is off until that
 * function is named, and an access-denied answer is final, typed and value-free, which
 * safe_detokenize turns into '[REDACTED]'. Against a fake Lambda over HTTP (the end-to-end
 * proof with the real service and SigV4 is tests/test_authority_spark.py).
 */
class DetokenizeAuthoritySuite extends AnyFunSuite with LocalSparkSession {
  private val canary = "canary-7f3e"
  private val detokenizeKey = "spark.tegridy.lambda.detokenizeFunctionName"

  private def tokens(tag: String, n: Int): String =
    (1 to n).map(i => s"('T($canary-$tag-$i)')").mkString("SELECT * FROM VALUES ", ", ", " AS data(t)")

  private def batched(df: DataFrame): Boolean =
    df.queryExecution.executedPlan.collectWithSubqueries { case b: BatchTokenizeExec => b }.nonEmpty

  private def chainOf(error: Throwable): Seq[Throwable] =
    Iterator.iterate[Throwable](error)(_.getCause).takeWhile(_ != null).toSeq

  private def restore(): Unit = lambda.reset()

  test("tokenize calls go to functionName, detokenize calls to detokenizeFunctionName") {
    lambda.reset()
    val rows = spark.sql(s"SELECT tegridy_detokenize_hp(tegridy_tokenize_hp(v)) FROM VALUES ('$canary-a'), ('$canary-b') AS d(v)")
      .collect().map(_.getString(0)).toSet
    assert(rows == Set(s"$canary-a", s"$canary-b"))
    assert(lambda.functionsCalled.asScala.toSet == Set(lambda.functionName, s"${lambda.functionName}-detokenize"))
  }

  test("with detokenizeFunctionName unset, every detokenize function fails at analysis, naming the setting") {
    withConf(detokenizeKey -> "") {
      Seq("tegridy_detokenize_hp('T(x)')", "tegridy_detokenize('T(x)')", "safe_detokenize('T(x)')").foreach { call =>
        val invocations = lambda.invocations.get()
        val error = intercept[Exception](spark.sql(s"SELECT $call").collect())
        val text = chainOf(error).map(e => String.valueOf(e.getMessage)).mkString("\n")
        assert(text.contains("detokenize is not enabled for this session"), text)
        assert(text.contains(detokenizeKey), text)
        assert(lambda.invocations.get() == invocations, "nothing is sent")
      }
      assert(spark.sql(s"SELECT tegridy_tokenize_hp('$canary')").collect().head.getString(0) == s"T($canary)")
    }
  }

  Seq(
    "HTTP 403 AccessDeniedException" -> FakeLambda.accessDenied,
    "a Handled AccessDenied function error" -> FakeLambda.functionError("Handled", "AccessDenied")).foreach { case (how, reply) =>
    test(s"access denied ($how): detokenize fails once, typed, without values; safe_detokenize gives [REDACTED]") {
      lambda.reset()
      lambda.respondDetokenize = _ => reply
      try withConf("spark.tegridy.onError" -> "null") { // onError never turns a denial into NULLs
        val before = lambda.invocations.get()
        val error = intercept[Exception](spark.sql(s"SELECT tegridy_detokenize_hp(t) FROM (${tokens(how.take(4), 3)})").collect())
        val chain = chainOf(error)
        val denied = chain.collectFirst { case e: TegridyTokenizationException => e }
        assert(denied.isDefined, chain.map(_.getClass.getName).mkString(" <- "))
        assert(denied.get.getMessage.contains(s"not authorized to invoke ${lambda.functionName}-detokenize"), denied.get.getMessage)
        assert(denied.get.serviceFault)
        assert(!chain.exists(e => String.valueOf(e.getMessage).contains(canary)), "no token in the error")
        assert(lambda.invocations.get() - before <= 2, "not retried (one call per partition at most)")

        val safe = spark.sql(s"SELECT t, safe_detokenize(t, 'support') AS v FROM (${tokens(how.take(5), 3)})")
        assert(batched(safe), "safe_detokenize goes through the batching operator")
        val values = safe.collect().map(_.getString(1)).toSeq
        assert(values == Seq.fill(3)("[REDACTED]"))
      } finally restore()
    }
  }

  test("safe_detokenize returns the value when allowed, batched, NULL and blanks untouched; role is optional") {
    lambda.reset()
    val df = spark.sql(s"SELECT safe_detokenize(t), safe_detokenize(t, 'analyst') FROM " +
      s"(SELECT * FROM VALUES ('T($canary-ok)'), (NULL), ('  ') AS d(t))")
    assert(batched(df))
    val rows = df.collect().map(r => (Option(r.getString(0)), Option(r.getString(1)))).toSeq
    assert(rows == Seq((Some(s"$canary-ok"), Some(s"$canary-ok")), (None, None), (Some("  "), Some("  "))))
    assert(lambda.functionsCalled.asScala.toSet == Set(s"${lambda.functionName}-detokenize"))
    // The role goes with the requests of its own call only, marked for the audit; detokenize sends none.
    assert(lambda.roles.asScala.toSeq == Seq("analyst"))
    assert(lambda.invocations.get() == 2)
  }

  test("safe_detokenize's role must be a constant string") {
    val error = intercept[Exception](spark.sql("SELECT safe_detokenize(t, t) FROM VALUES ('T(x)') AS d(t)").collect())
    assert(chainOf(error).exists(e => String.valueOf(e.getMessage).contains("role must be a constant STRING")))
  }
}
