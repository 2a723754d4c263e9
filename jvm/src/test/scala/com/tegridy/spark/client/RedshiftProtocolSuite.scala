package com.tegridy.spark.client

import java.nio.charset.StandardCharsets.UTF_8

import scala.jdk.CollectionConverters._

import org.apache.spark.scheduler.{SparkListener, SparkListenerEvent}
import org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart
import org.scalatest.concurrent.Eventually
import org.scalatest.funsuite.AnyFunSuite
import org.scalatest.time.{Seconds, Span}

import com.tegridy.spark.config.{RedshiftCaller, TegridyConf, WireFormat}
import com.tegridy.spark.errors.TegridyProtocolViolation
import com.tegridy.spark.metrics.TegridyAccumulator
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.testing.{FakeLambda, LocalSparkSession, LogCapture}
import com.tegridy.spark.testing.FakeLambda.Reply

/**
 * spark.tegridy.protocol=redshift against a fake that answers Redshift-style: every request field,
 * both operations, formats, Redshift's batch limits, success:false bisected to its one poison
 * value, a wrong count retried as a transport fault, and no canary (nor error_msg) in any log line.
 */
class RedshiftProtocolSuite extends AnyFunSuite with LocalSparkSession with LogCapture with Eventually {
  override protected def extraConf: Map[String, String] = Map("spark.tegridy.protocol" -> "redshift")

  private val Fields = Set("request_id", "cluster", "user", "database", "external_function", "query_id",
    "num_records", "arguments")
  private val Uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
  private val Poison = "CANARY-rs-poison-17"

  private val executionIds = new java.util.concurrent.ConcurrentLinkedQueue[Long]()

  override protected def beforeAll(): Unit = {
    super.beforeAll()
    spark.sparkContext.addSparkListener(new SparkListener {
      override def onOtherEvent(event: SparkListenerEvent): Unit = event match {
        case start: SparkListenerSQLExecutionStart => executionIds.add(start.executionId)
        case _ =>
      }
    })
  }

  private def fresh[T](settings: (String, String)*)(body: => T): T = {
    lambda.reset()
    withConf(("spark.tegridy.cache.maxEntries" -> "0") +: settings: _*)(body)
  }

  private def events = lambda.redshiftEvents.asScala.toSeq
  private def chain(e: Throwable): Seq[Throwable] = Iterator.iterate(e)(_.getCause).takeWhile(_ != null).toSeq
  private def bisections(): Long = TegridyAccumulator.forContext(spark.sparkContext).value.get(Counter.Bisections)

  test("every request field says who asks, and the answers are exact") {
    fresh("spark.tegridy.batch.maxRows" -> "40") {
      val rows = spark.sql("SELECT id, tegridy_tokenize(concat('CANARY-', 'rs-', id)) AS t FROM range(0, 200, 1, 2)").collect()
      rows.foreach(r => assert(r.getString(1) == s"T(CANARY-rs-${r.getLong(0)})"))
      assert(events.size >= 5)
      events.foreach { event =>
        assert(event.fieldNames().asScala.toSet == Fields)
        assert(event.get("request_id").asText().matches(Uuid))
        assert(event.get("cluster").asText() == spark.sparkContext.applicationId)
        assert(event.get("user").asText() == spark.sparkContext.sparkUser)
        assert(event.get("database").asText() == spark.catalog.currentDatabase)
        assert(event.get("external_function").asText() == "tegridy_tokenize_hp") // the family's expression
        assert(event.get("query_id").isIntegralNumber)
        val arguments = event.get("arguments").elements().asScala.toSeq
        assert(event.get("num_records").asInt() == arguments.size && arguments.size <= 40)
        arguments.foreach(row => assert(row.isArray && row.size() == 1 && row.get(0).isTextual))
      }
      assert(events.map(_.get("request_id").asText()).distinct.size == events.size, "a request id per request")
      assert(lambda.functionsCalled.asScala.toSet == Set(lambda.functionName))
      // query_id: the one SQL execution this query ran as.
      val queryIds = events.map(_.get("query_id").asLong()).distinct
      assert(queryIds.size == 1)
      eventually(timeout(Span(30, Seconds))) { assert(executionIds.asScala.toSet.contains(queryIds.head)) }
      lambda.reset()
      spark.sql("SELECT tegridy_tokenize(concat('again-', id)) FROM range(0, 3, 1, 1)").collect()
      assert(events.map(_.get("query_id").asLong()).distinct.forall(_ != queryIds.head), "another query, another id")
    }
  }

  test("detokenize goes to the detokenize function under the same protocol; formats ride as a second argument") {
    fresh("spark.tegridy.onError" -> "null") {
      val back = spark.sql("SELECT id, tegridy_detokenize(tegridy_tokenize(concat('v', id))) AS v, " +
        "tegridy_detokenize('not-a-token') AS missing FROM range(0, 30, 1, 2)").collect()
      back.foreach { r => assert(r.getString(1) == s"v${r.getLong(0)}"); assert(r.isNullAt(2)) }
      val detokenize = events.filter(_.get("external_function").asText() == "tegridy_detokenize_hp")
      assert(detokenize.nonEmpty && lambda.functionsCalled.asScala.toSet == Set(lambda.functionName, detokenizeFunctionName))

      lambda.reset()
      val formatted = spark.sql("SELECT tegridy_tokenize_hp('123-45-6789', 'ssn') AS t").first().getString(0)
      assert(formatted == "T(123-45-6789)")
      val rows = events.flatMap(_.get("arguments").elements().asScala)
      assert(rows.map(r => (r.get(0).asText(), r.get(1).asText())) == Seq("123-45-6789" -> "ssn"))
    }
  }

  test("success:false fails the batch: bisected to the poison value, every other row exact") {
    fresh("spark.tegridy.onError" -> "null", "spark.tegridy.batch.maxRows" -> "64") {
      lambda.respondRedshift = (function, values) =>
        if (values.contains(Poison)) FakeLambda.redshiftRefusal(s"cannot tokenize '$Poison'") // echoes the value
        else Reply(200, Map.empty, lambda.redshiftBody(function, values))
      val before = bisections()
      val rows = spark.sql("SELECT id, tegridy_tokenize(IF(id = 17, concat('CANARY-', 'rs-poison-', id), concat('ok-', id))) AS t " +
        "FROM range(0, 64, 1, 1)").collect()
      rows.foreach { r =>
        if (r.getLong(0) == 17) assert(r.isNullAt(1)) else assert(r.getString(1) == s"T(ok-${r.getLong(0)})")
      }
      assert(bisections() - before >= 6, "halved down to the one value")
      assert(lambda.sentValues.count(_ == Poison) >= 7)
    }
    fresh("spark.tegridy.batch.maxRows" -> "64") {
      lambda.respondRedshift = (function, values) =>
        if (values.contains(Poison)) FakeLambda.redshiftRefusal(s"cannot tokenize '$Poison'")
        else Reply(200, Map.empty, lambda.redshiftBody(function, values))
      val error = intercept[Exception] {
        spark.sql("SELECT tegridy_tokenize(IF(id = 17, concat('CANARY-', 'rs-poison-', id), concat('ok-', id))) FROM range(0, 64, 1, 1)").collect()
      }
      val messages = chain(error).map(e => String.valueOf(e.getMessage)).mkString("\n")
      assert(messages.contains("success: false") && messages.contains("error_msg is not shown"))
      assert(!messages.contains(Poison))
    }
  }

  test("a wrong num_records or results length is retried as a transport fault, then an outage whatever onError says") {
    fresh("spark.tegridy.onError" -> "null", "spark.tegridy.retry.maxAttempts" -> "3") {
      lambda.respondRedshift = (_, values) =>
        Reply(200, Map.empty, s"""{"success":true,"num_records":${values.size},"results":["only-one"]}""")
      val error = intercept[Exception](spark.sql("SELECT tegridy_tokenize(concat('n', id)) FROM range(0, 5, 1, 1)").collect())
      val messages = chain(error).map(e => String.valueOf(e.getMessage)).mkString("\n")
      assert(messages.contains("answered 1 results for 5 rows") && messages.contains("one result per row"))
      assert(messages.contains("whatever spark.tegridy.onError says"))
      assert(lambda.invocations.get() == 3, "retried, never bisected: no value can cause it")
    }
  }

  test("limits default to Redshift's: rows unlimited, 5 MiB; an explicit setting wins and bounds the bytes") {
    val base = Map("spark.tegridy.lambda.functionName" -> "f", "spark.tegridy.protocol" -> "redshift")
    assert(TegridyConf.from(base).batchMaxRows == RedshiftCaller.UnlimitedRows)
    assert(TegridyConf.from(base).batchMaxBytes == 5 * 1024 * 1024)
    assert(TegridyConf.from(base + ("spark.tegridy.batch.maxRows" -> "1000")).batchMaxRows == 1000)
    assert(TegridyConf.from(base - "spark.tegridy.protocol").batchMaxRows == 500)
    fresh() {
      spark.sql("SELECT tegridy_tokenize(concat('many-', id)) FROM range(0, 3000, 1, 1)").collect()
      assert(events.map(_.get("num_records").asInt()).max > 500, "more than the tegridy default in one request")
    }
    fresh("spark.tegridy.batch.maxBytes" -> "2048") {
      spark.sql("SELECT tegridy_tokenize(concat('bytes-', id, repeat('é', id % 40))) FROM range(0, 400, 1, 1)").collect()
      assert(lambda.requestBytes.asScala.forall(_ <= 2048) && lambda.requestBytes.size > 5)
    }
  }

  test("the parser: a JSON string holding the answer, nulls, and malformed answers that name no value") {
    val two = IndexedSeq("a", "b")
    assert(RedshiftProtocol.parseResults("\"{\\\"success\\\":true,\\\"results\\\":[\\\"t1\\\",null]}\"".getBytes(UTF_8), 2)
      .toSeq == Seq("t1", null))
    val refused = intercept[InvokeFailure](RedshiftProtocol.parseResults(
      s"""{"success":false,"error_msg":"bad value $Poison"}""".getBytes(UTF_8), 2))
    assert(refused.cause == FailureCause.BatchRefused(withMessage = true) && !refused.getMessage.contains(Poison))
    assert(intercept[TegridyProtocolViolation](RedshiftProtocol.parseResults("""{"success":true,"num_records":3,"results":["x","y"]}"""
      .getBytes(UTF_8), 2)).getMessage.contains("num_records 3 for 2 rows"))
    Seq("""{"results":["x","y"]}""", """{"success":true,"results":[{"t":"x"},"y"]}""", """[1]""", s"""{"success":"$Poison"""")
      .foreach { body =>
        val violation = intercept[TegridyProtocolViolation](RedshiftProtocol.parseResults(body.getBytes(UTF_8), 2))
        assert(!violation.getMessage.contains(Poison))
      }
    val caller = RedshiftCaller("app-1", "etl", "sales")
    val request = new String(RedshiftProtocol.request(two, caller, CallContext("tegridy_tokenize", Some(42L))), UTF_8)
    assert(request.replaceFirst(Uuid, "ID") == """{"request_id":"ID","cluster":"app-1","user":"etl","database":"sales",""" +
      """"external_function":"tegridy_tokenize","query_id":42,"num_records":2,"arguments":[["a"],["b"]]}""")
    assert(request.length <= RedshiftProtocol.requestOverheadBytes(caller, "tegridy_tokenize") + two.map(RedshiftProtocol.itemBytes).sum)
    assert(TegridyConf.from(Map("spark.tegridy.lambda.functionName" -> "f")).protocol == WireFormat.Tegridy)
  }

  test("no canary and no error_msg in any log line") {
    val lines = captured.asScala.toSeq
    assert(lines.nonEmpty)
    lines.foreach { line =>
      assert(!line.contains("CANARY-rs"), line.take(300))
      assert(!line.contains("cannot tokenize"), line.take(300))
    }
  }
}
