package com.tegridy.spark.client

import java.nio.charset.StandardCharsets.UTF_8

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.errors.TegridyProtocolViolation

class WireProtocolSuite extends AnyFunSuite {
  private val canary = "canary-4b1d@example.com"

  test("requests are the seeds' shapes, byte for byte") {
    assert(new String(WireProtocol.tokenizeRequest(IndexedSeq("v1", "ü\"x")), UTF_8) ==
      """{"requests":[{"data":"v1"},{"data":"ü\"x"}]}""")
    assert(new String(WireProtocol.detokenizeRequest(IndexedSeq("t1", "t2")), UTF_8) == """{"tokens":["t1","t2"]}""")
    assert(new String(WireProtocol.detokenizeRequest(IndexedSeq("t1"), Some("support")), UTF_8) ==
      """{"tokens":["t1"],"role":"support"}""")
  }

  test("a scope other than the default rides as a top-level field; erased tokens are read apart from not found") {
    assert(new String(WireProtocol.tokenizeRequest(IndexedSeq("v1"), Some("marketing")), UTF_8) ==
      """{"requests":[{"data":"v1"}],"scope":"marketing"}""")
    assert(new String(WireProtocol.detokenizeRequest(IndexedSeq("t1"), Some("support"), Some("marketing")), UTF_8) ==
      """{"tokens":["t1"],"role":"support","scope":"marketing"}""")
    assert(WireProtocol.scopeBytes(Some("marketing")) == ""","scope":"marketing"""".length)
    val (found, erased) = WireProtocol.parseDetokenizeResponseErased("""{"tokens":{"t1":"v1"},"erased":["t2"]}""".getBytes(UTF_8))
    assert(found.get("t1") == "v1" && erased == Set("t2"))
    val (values, gone) = WireProtocol.parseDetokenizeValuesErased("""{"values":["v1",null,null],"erased":[2]}""".getBytes(UTF_8), 3)
    assert(values.toSeq == Seq("v1", null, null) && gone == Set(2))
  }

  test("tokenize responses are read in order, failures kept in place") {
    val body = """{"responses":[{"success":true,"token":"t1","data":"v1"},{"success":false,"error":"nope"},{"token":"t3","success":true}]}"""
    val out = WireProtocol.parseTokenizeResponse(body.getBytes(UTF_8), IndexedSeq("v1", "v2", "v3"))
    assert(out.toSeq == Seq(Right("t1"), Left(WireProtocol.ItemFailure(retryable = None)), Right("t3")))
  }

  test("a wrong count is a protocol violation naming the counts") {
    val body = """{"responses":[{"success":true,"token":"t1"}]}"""
    val error = intercept[TegridyProtocolViolation](WireProtocol.parseTokenizeResponse(body.getBytes(UTF_8), IndexedSeq("a", "b")))
    assert(error.getMessage.contains("'responses' has 1 entries for 2 requests"))
  }

  test("an echo that does not match is caught without printing either value") {
    val body = s"""{"responses":[{"success":true,"token":"t1","data":"$canary-other"}]}"""
    val error = intercept[TegridyProtocolViolation](WireProtocol.parseTokenizeResponse(body.getBytes(UTF_8), IndexedSeq(canary)))
    assert(error.getMessage.contains("out of order"))
    assert(!error.getMessage.contains(canary))
  }

  test("malformed JSON is reported without quoting the payload") {
    val body = s"""{"responses":[{"success":true,"token":"$canary" """
    val error = intercept[TegridyProtocolViolation](WireProtocol.parseTokenizeResponse(body.getBytes(UTF_8), IndexedSeq(canary)))
    assert(error.getMessage.contains("not valid JSON"))
    assert(!error.getMessage.contains(canary))
  }

  test("detokenize responses map the found tokens only") {
    val body = """{"tokens":{"t1":"v1","t2":"ü"}}"""
    val found = WireProtocol.parseDetokenizeResponse(body.getBytes(UTF_8))
    assert(found.size == 2 && found.get("t2") == "ü" && !found.containsKey("t3"))
    intercept[TegridyProtocolViolation](WireProtocol.parseDetokenizeResponse("""{"other":1}""".getBytes(UTF_8)))
  }
}
