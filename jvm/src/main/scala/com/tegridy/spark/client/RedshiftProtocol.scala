package com.tegridy.spark.client

import java.nio.charset.StandardCharsets.UTF_8
import java.util.UUID

import scala.collection.mutable.ArrayBuffer

import com.fasterxml.jackson.core.{JsonParser, JsonToken}

import com.tegridy.spark.client.WireProtocol.{expect, read, write}
import com.tegridy.spark.config.RedshiftCaller
import com.tegridy.spark.errors.TegridyProtocolViolation

/**
 * Amazon Redshift's Lambda-UDF JSON (`spark.tegridy.protocol=redshift`), so that a function
 * written for Redshift answers Spark unchanged; docs/protocols.md has both protocols side by side.
 *
 *   {"request_id":"<uuid>","cluster":"<app id>","user":"<spark user>","database":"<db>",
 *    "external_function":"<sql function>","query_id":<execution id>,"num_records":2,
 *    "arguments":[["v1"],["v2"]]}
 *   -> {"success":true,"num_records":2,"results":["t1","t2"]}   (null = no answer for that row)
 *   -> {"success":false,"error_msg":"..."}                      (the whole batch failed)
 *
 * A format rides as a second argument (`["v1","ssn"]`), and then every row of that request has
 * one ("default" where it has none), as Redshift sends for a two-argument function. The
 * response may also be a JSON string that holds the object (Python handlers that return
 * `json.dumps(...)`, as AWS's own examples do). Detokenize is the same shape, tokens in.
 */
object RedshiftProtocol {
  /** The request's bytes without any value: field names and punctuation, a UUID, and room for two numbers. */
  private val FixedRequestBytes: Long = ("""{"request_id":"","cluster":"","user":"","database":"",""" +
    """"external_function":"","query_id":,"num_records":,"arguments":[]}""").length + 36L + 20L + 10L

  def requestOverheadBytes(caller: RedshiftCaller, function: String): Long = FixedRequestBytes +
    WireProtocol.jsonStringBytes(caller.cluster) + WireProtocol.jsonStringBytes(caller.user) +
    WireProtocol.jsonStringBytes(caller.database) + WireProtocol.jsonStringBytes(function)

  /** An upper bound on one row: `["value"],` plus `,"format"` in case any row of the request has a format. */
  def itemBytes(key: String): Long = {
    val (format, value) = FormattedValue.decode(key)
    WireProtocol.jsonStringBytes(value) + 5L + 3L + WireProtocol.jsonStringBytes(format.getOrElse(FormattedValue.Default))
  }

  /** One request for `keys` (FormattedValue), in order, from `caller` for the batch's `context`. */
  def request(keys: IndexedSeq[String], caller: RedshiftCaller, context: CallContext): Array[Byte] = write { generator =>
    val withFormats = WireProtocol.hasFormats(keys)
    generator.writeStartObject()
    generator.writeStringField("request_id", UUID.randomUUID().toString)
    generator.writeStringField("cluster", caller.cluster)
    generator.writeStringField("user", caller.user)
    generator.writeStringField("database", caller.database)
    generator.writeStringField("external_function", context.function)
    context.queryId match {
      case Some(id) => generator.writeNumberField("query_id", id)
      case None => generator.writeNullField("query_id") // evaluated outside any SQL execution
    }
    generator.writeNumberField("num_records", keys.size)
    generator.writeArrayFieldStart("arguments")
    keys.foreach { key =>
      val (format, value) = FormattedValue.decode(key)
      generator.writeStartArray()
      generator.writeString(value)
      if (withFormats) generator.writeString(format.getOrElse(FormattedValue.Default))
      generator.writeEndArray()
    }
    generator.writeEndArray()
    generator.writeEndObject()
  }

  /**
   * The `count` results, in order; null where the function answered null. `success: false` is an
   * [[InvokeFailure]] (the batch is bisected); a malformed answer, or a `num_records` or a
   * `results` length other than `count`, is a [[TegridyProtocolViolation]] (retried as a transport
   * fault: no value can cause it). `error_msg` is never read: a function
   * may quote the value it failed on, and nothing here may ever hold a value.
   */
  def parseResults(payload: Array[Byte], count: Int): Array[String] = {
    var success: Option[Boolean] = None
    var hasErrorMessage = false
    var numRecords: Option[Long] = None
    var results: ArrayBuffer[String] = null
    readObject(payload) { parser =>
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        val field = parser.currentName()
        val token = parser.nextToken()
        field match {
          case "success" =>
            expect(token == JsonToken.VALUE_TRUE || token == JsonToken.VALUE_FALSE, "'success' is not a boolean")
            success = Some(token == JsonToken.VALUE_TRUE)
          case "error_msg" => hasErrorMessage = token != JsonToken.VALUE_NULL; parser.skipChildren()
          case "num_records" =>
            expect(token == JsonToken.VALUE_NUMBER_INT, "'num_records' is not a whole number")
            numRecords = Some(parser.getLongValue)
          case "results" => results = readResults(parser, token)
          case _ => parser.skipChildren()
        }
      }
    }
    success match {
      case None => throw new TegridyProtocolViolation("the response has no 'success' field")
      case Some(false) => throw new InvokeFailure(FailureCause.BatchRefused(hasErrorMessage))
      case Some(true) =>
        numRecords.filter(_ != count).foreach { n =>
          throw new TegridyProtocolViolation(s"the function answered num_records $n for $count rows$OneResultPerRow")
        }
        if (results == null) throw new TegridyProtocolViolation("the response has success: true but no 'results' list")
        if (results.size != count) {
          throw new TegridyProtocolViolation(s"the function answered ${results.size} results for $count rows$OneResultPerRow")
        }
        results.toArray
    }
  }

  private val OneResultPerRow = "; a Redshift Lambda UDF must answer one result per row, in order (docs/protocols.md)"

  private def readResults(parser: JsonParser, token: JsonToken): ArrayBuffer[String] = {
    expect(token == JsonToken.START_ARRAY, "'results' is not a list")
    val out = ArrayBuffer[String]()
    var next = parser.nextToken()
    while (next != JsonToken.END_ARRAY) {
      next match {
        case JsonToken.VALUE_NULL => out += null
        case t if t.isScalarValue => out += parser.getText // a string, or a number or boolean as its text
        case _ => throw new TegridyProtocolViolation(s"result ${out.size} is not a string or null")
      }
      next = parser.nextToken()
    }
    out
  }

  /** Runs `body` on the response object, unwrapping a JSON string that holds it. */
  private def readObject(payload: Array[Byte])(body: JsonParser => Unit): Unit =
    read(payload) { parser =>
      parser.nextToken() match {
        case JsonToken.START_OBJECT => body(parser)
        case JsonToken.VALUE_STRING =>
          val inner = parser.getText.getBytes(UTF_8)
          expect(parser.nextToken() == null, "the response has more than one JSON value")
          readObject(inner)(body)
        case _ => throw new TegridyProtocolViolation("the response is not a JSON object (nor a JSON string holding one)")
      }
    }
}
