package com.tegridy.spark.client

import java.io.ByteArrayOutputStream

import com.fasterxml.jackson.core.{JsonEncoding, JsonFactory, JsonGenerator, JsonParser, JsonToken}

import com.tegridy.spark.errors.TegridyProtocolViolation

/**
 * The seeds' wire protocol, byte-compatible, written and read with one shared Jackson factory
 * (thread-safe; streaming, so no tree per response):
 *
 *   tokenize    {"requests":[{"data":"v1"},...]}  ->  {"responses":[{"success":true,"token":"t1","data":"v1"},
 *                                                                   {"success":false,"error":"..."},...]}
 *   detokenize  {"tokens":["t1",...]}             ->  {"tokens":{"t1":"v1",...}}   (absent = not found)
 *
 * A scope other than the default rides as a top-level "scope"; an erased token is listed in the
 * answer's "erased" (the token, or with "formats" its index), told apart from one not found.
 *
 * Protocol errors name what is wrong with the response's shape, never a value.
 */
object WireProtocol {
  private val json = new JsonFactory()

  /**
   * A tokenize item the service refused: `retryable` is its flag, None when the service did not
   * say (the seeds' original protocol has no flag), so that it is retried a few times.
   */
  final case class ItemFailure(retryable: Option[Boolean], reason: Option[String] = None)

  /** Bytes a request adds per value beyond the value itself, and per request. */
  private val TokenizeItemOverhead = 11  // {"data":""},
  private val TokenizeRequestOverhead = 15 // {"requests":[]}
  private val DetokenizeItemOverhead = 3  // "",
  private val DetokenizeRequestOverhead = 13 // {"tokens":[]}

  /** The bytes of a request that carries no value yet. */
  def requestOverheadBytes(operation: Operation): Long = operation match {
    case Operation.Tokenize => TokenizeRequestOverhead
    case Operation.Detokenize => DetokenizeRequestOverhead
  }

  /** An upper bound on the bytes a key (a value, and its format if any) adds to a request of `operation`. */
  def itemBytes(operation: Operation, key: String): Long = {
    val (format, value) = FormattedValue.decode(key)
    // {"format":"..."}, or in a detokenize request's formats list "...", plus the default "formats" for the rest
    val formatBytes = format.map(f => f.length + 12L + 8L).getOrElse(0L)
    jsonStringBytes(value) + formatBytes + (operation match {
      case Operation.Tokenize => TokenizeItemOverhead
      case Operation.Detokenize => DetokenizeItemOverhead + 12L // a default entry in "formats" if another has one
    })
  }

  /**
   * An upper bound on the bytes `value` takes inside a JSON string as Jackson writes it (UTF-8,
   * control characters as six-character escapes), so a batch never exceeds `batch.maxBytes`.
   */
  def jsonStringBytes(value: String): Long = {
    var total = 0L
    var i = 0
    while (i < value.length) {
      val c = value.charAt(i)
      total += (if (c < 0x20) 6 else if (c == '"' || c == '\\') 2 else if (c < 0x80) 1 else if (c < 0x800) 2 else 3)
      i += 1
    }
    total
  }

  /** The bytes a scope adds to a request: `,"scope":"..."`. */
  def scopeBytes(scope: Option[String]): Long = scope.map(s => jsonStringBytes(s) + 11L).getOrElse(0L)

  /** Keys (FormattedValue): a formatted one's item carries its "format". */
  def tokenizeRequest(keys: IndexedSeq[String], scope: Option[String] = None): Array[Byte] = write { generator =>
    generator.writeStartObject()
    generator.writeArrayFieldStart("requests")
    keys.foreach { key =>
      val (format, value) = FormattedValue.decode(key)
      generator.writeStartObject()
      generator.writeStringField("data", value)
      format.foreach(generator.writeStringField("format", _))
      generator.writeEndObject()
    }
    generator.writeEndArray()
    scope.foreach(generator.writeStringField("scope", _))
    generator.writeEndObject()
  }

  /**
   * Keys (FormattedValue): if any has a format, a parallel "formats" list, answered by "values";
   * a claimed role (safe_detokenize) rides beside them for the audit. Without either, the seeds' bytes.
   */
  def detokenizeRequest(keys: IndexedSeq[String], role: Option[String] = None, scope: Option[String] = None): Array[Byte] =
      write { generator =>
    val decoded = keys.map(FormattedValue.decode)
    generator.writeStartObject()
    generator.writeArrayFieldStart("tokens")
    decoded.foreach { case (_, token) => generator.writeString(token) }
    generator.writeEndArray()
    if (hasFormats(keys)) {
      generator.writeArrayFieldStart("formats")
      decoded.foreach { case (format, _) => generator.writeString(format.getOrElse(FormattedValue.Default)) }
      generator.writeEndArray()
    }
    role.foreach(generator.writeStringField("role", _)) // a claimed label for the audit
    scope.foreach(generator.writeStringField("scope", _))
    generator.writeEndObject()
  }

  def hasFormats(keys: IndexedSeq[String]): Boolean = keys.exists(k => FormattedValue.decode(k)._1.isDefined)

  /** The erased entries of a detokenize answer: "erased", tokens (or with "formats" indices); empty when absent. */
  private def readErased(parser: JsonParser): Set[String] = {
    expect(parser.currentToken() == JsonToken.START_ARRAY, "'erased' is not a list")
    val erased = Set.newBuilder[String]
    while (parser.nextToken() != JsonToken.END_ARRAY) {
      if (parser.currentToken().isScalarValue) erased += parser.getText else parser.skipChildren()
    }
    erased.result()
  }

  /**
   * The answer to a detokenize request with "formats": one value or null per token, in order, and
   * the indices the service said were erased.
   */
  def parseDetokenizeValues(payload: Array[Byte], count: Int): Array[String] = parseDetokenizeValuesErased(payload, count)._1

  def parseDetokenizeValuesErased(payload: Array[Byte], count: Int): (Array[String], Set[Int]) = {
    val out = new Array[String](count)
    var erased = Set.empty[Int]
    read(payload) { parser =>
      expect(parser.nextToken() == JsonToken.START_OBJECT, "the response is not a JSON object")
      var sawValues = false
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        val field = parser.currentName()
        parser.nextToken()
        if (field == "values") {
          sawValues = true
          expect(parser.currentToken() == JsonToken.START_ARRAY, "'values' is not a list")
          var index = 0
          while (parser.nextToken() != JsonToken.END_ARRAY) {
            expect(index < count, s"'values' has more entries than the $count tokens")
            if (parser.currentToken() == JsonToken.VALUE_STRING) out(index) = parser.getText else parser.skipChildren()
            index += 1
          }
          expect(index == count, s"'values' has $index entries for $count tokens")
        } else if (field == "erased") {
          erased = readErased(parser).flatMap(i => scala.util.Try(i.toInt).toOption).filter(i => i >= 0 && i < count)
        } else parser.skipChildren()
      }
      expect(sawValues, "the response has no 'values' list")
    }
    (out, erased)
  }

  /** The bytes a claimed role adds to a detokenize request. */
  def roleBytes(role: Option[String]): Long = role.map(r => jsonStringBytes(r) + 10L).getOrElse(0L)

  /**
   * One entry per request, in request order: the token (String) or an ItemFailure. Checks the
   * count and, where the service echoes `data`, that each echo is the value sent at that place.
   */
  def parseTokenizeResponse(payload: Array[Byte], sentKeys: IndexedSeq[String]): Array[Either[ItemFailure, String]] = {
    val sent = sentKeys.map(k => FormattedValue.decode(k)._2) // the echo is the value itself
    val out = new Array[Either[ItemFailure, String]](sent.length)
    read(payload) { parser =>
      expect(parser.nextToken() == JsonToken.START_OBJECT, "the response is not a JSON object")
      var sawResponses = false
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        val field = parser.currentName()
        parser.nextToken()
        if (field == "responses") {
          sawResponses = true
          expect(parser.currentToken() == JsonToken.START_ARRAY, "'responses' is not a list")
          var index = 0
          while (parser.nextToken() != JsonToken.END_ARRAY) {
            expect(index < sent.length, s"'responses' has more entries than the ${sent.length} requests")
            out(index) = readTokenizeItem(parser, sent(index), index)
            index += 1
          }
          expect(index == sent.length, s"'responses' has $index entries for ${sent.length} requests")
        } else {
          parser.skipChildren()
        }
      }
      expect(sawResponses, "the response has no 'responses' list")
    }
    out
  }

  private def readTokenizeItem(parser: JsonParser, sentValue: String, index: Int): Either[ItemFailure, String] = {
    expect(parser.currentToken() == JsonToken.START_OBJECT, s"response $index is not an object")
    var success: Option[Boolean] = None
    var token: String = null
    var echo: String = null
    var retryable: Option[Boolean] = None
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      val field = parser.currentName()
      val valueToken = parser.nextToken()
      field match {
        case "success" =>
          expect(valueToken == JsonToken.VALUE_TRUE || valueToken == JsonToken.VALUE_FALSE, s"response $index: 'success' is not a boolean")
          success = Some(valueToken == JsonToken.VALUE_TRUE)
        case "token" if valueToken == JsonToken.VALUE_STRING => token = parser.getText
        case "data" if valueToken == JsonToken.VALUE_STRING => echo = parser.getText
        case "retryable" if valueToken == JsonToken.VALUE_TRUE || valueToken == JsonToken.VALUE_FALSE =>
          retryable = Some(valueToken == JsonToken.VALUE_TRUE)
        case _ => parser.skipChildren()
      }
    }
    success match {
      case Some(true) =>
        expect(token != null, s"response $index succeeded without a 'token' string")
        // The echo is what makes a reordered response detectable; compare, never print.
        expect(echo == null || echo == sentValue, s"response $index echoes a different value than request $index (responses out of order?)")
        Right(token)
      case Some(false) => Left(ItemFailure(retryable))
      case None => throw new TegridyProtocolViolation(s"response $index has no 'success' field")
    }
  }

  /** token -> value for the tokens the service found. */
  def parseDetokenizeResponse(payload: Array[Byte]): java.util.HashMap[String, String] = parseDetokenizeResponseErased(payload)._1

  /** (token -> value for the tokens the service found, the tokens it said were erased). */
  def parseDetokenizeResponseErased(payload: Array[Byte]): (java.util.HashMap[String, String], Set[String]) = {
    val found = new java.util.HashMap[String, String]()
    var erased = Set.empty[String]
    read(payload) { parser =>
      expect(parser.nextToken() == JsonToken.START_OBJECT, "the response is not a JSON object")
      var sawTokens = false
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        val field = parser.currentName()
        parser.nextToken()
        if (field == "tokens") {
          sawTokens = true
          expect(parser.currentToken() == JsonToken.START_OBJECT, "'tokens' is not an object")
          while (parser.nextToken() == JsonToken.FIELD_NAME) {
            val token = parser.currentName()
            if (parser.nextToken() == JsonToken.VALUE_STRING) found.put(token, parser.getText)
            else parser.skipChildren()
          }
        } else if (field == "erased") {
          erased = readErased(parser)
        } else {
          parser.skipChildren()
        }
      }
      expect(sawTokens, "the response has no 'tokens' object")
    }
    (found, erased)
  }

  /** `errorType` of a function error body `{"errorMessage": ..., "errorType": ...}` (the message is skipped). */
  def functionErrorType(payload: Array[Byte]): Option[String] = {
    var found: Option[String] = None
    read(payload) { parser =>
      if (parser.nextToken() == JsonToken.START_OBJECT) {
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
          val field = parser.currentName()
          parser.nextToken()
          if (field == "errorType") found = Option(parser.getValueAsString)
          else parser.skipChildren()
        }
      }
    }
    found
  }

  /** A JSON document written by `body` (also RedshiftProtocol's). */
  private[client] def write(body: JsonGenerator => Unit): Array[Byte] = {
    val bytes = new ByteArrayOutputStream(256)
    val generator = json.createGenerator(bytes, JsonEncoding.UTF8)
    try body(generator) finally generator.close()
    bytes.toByteArray
  }

  /** Runs `body` on a parser of `payload`; invalid JSON is a protocol violation that quotes none of it. */
  private[client] def read(payload: Array[Byte])(body: JsonParser => Unit): Unit = {
    val parser = json.createParser(payload)
    try body(parser)
    catch {
      case e: com.fasterxml.jackson.core.JsonProcessingException =>
        // Jackson's message can quote the payload; keep only where it broke.
        throw new TegridyProtocolViolation(s"the response is not valid JSON (at byte ${e.getLocation.getByteOffset})")
    } finally parser.close()
  }

  private[client] def expect(condition: Boolean, problem: => String): Unit =
    if (!condition) throw new TegridyProtocolViolation(problem)
}
