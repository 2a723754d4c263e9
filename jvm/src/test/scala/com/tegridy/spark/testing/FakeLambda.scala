package com.tegridy.spark.testing

import java.net.InetSocketAddress
import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.{ConcurrentLinkedQueue, Executors}
import java.util.concurrent.atomic.AtomicInteger

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.ObjectMapper
import com.fasterxml.jackson.databind.node.ObjectNode
import com.sun.net.httpserver.{HttpExchange, HttpServer}

/**
 * An in-process fake Lambda for the client's tests: the Invoke REST path over real HTTP, a
 * predictable tokenizer ("T(" + value + ")"), a record of every batch it was sent, and a
 * pluggable `respond` to inject faults. End-to-end tests use the real reference service instead.
 */
final class FakeLambda(val functionName: String = "fake-tokens", port: Int = 0) extends AutoCloseable {
  import FakeLambda._

  private val mapper = new ObjectMapper()
  val invocations = new AtomicInteger()
  /** The values (or tokens) of each invocation, in arrival order. */
  val batches = new ConcurrentLinkedQueue[Seq[String]]()
  /** The `role` label of each detokenize invocation that carried one. */
  val roles = new ConcurrentLinkedQueue[String]()
  /** The function name each invocation was addressed to (from the Invoke path). */
  val functionsCalled = new ConcurrentLinkedQueue[String]()
  /** The request body size of each invocation, in bytes. */
  val requestBytes = new ConcurrentLinkedQueue[Int]()
  /** Invocations being answered right now, and the most at once. */
  val concurrent = new AtomicInteger()
  val maxConcurrent = new AtomicInteger()
  /** Before answering, each invocation sleeps a random time up to this (reorders answers). */
  @volatile var jitterMs: Int = 0

  /** Replace to inject faults into detokenize: (status, headers, body) for an invocation's tokens. */
  @volatile var respondDetokenize: Seq[String] => Reply = tokens => Reply(200, Map.empty, detokenizeBody(tokens))

  /** Every Redshift-shaped event (protocol=redshift), whole, so tests can check each field. */
  val redshiftEvents = new ConcurrentLinkedQueue[ObjectNode]()

  /** Replace to inject faults into Redshift-shaped calls: (function called, first arguments) -> reply. */
  @volatile var respondRedshift: (String, Seq[String]) => Reply = (function, values) => Reply(200, Map.empty, redshiftBody(function, values))

  /** Replace to inject faults: (status, headers, body) for an invocation's parsed values. */
  @volatile var respond: Seq[String] => Reply = values => Reply(200, Map.empty, tokenizeBody(values))

  // Without TCP_NODELAY the JDK server's separate header and body writes meet delayed ACKs.
  System.setProperty("sun.net.httpserver.nodelay", "true")
  private val server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64)
  server.setExecutor(Executors.newCachedThreadPool())
  server.createContext("/2015-03-31/functions/", (exchange: HttpExchange) => handle(exchange))
  server.start()

  def endpoint: String = s"http://127.0.0.1:${server.getAddress.getPort}"

  def tokenFor(value: String): String = s"T($value)"

  def tokenizeBody(values: Seq[String]): String = {
    val root = mapper.createObjectNode()
    val responses = root.putArray("responses")
    values.foreach { v => responses.addObject().put("success", true).put("token", tokenFor(v)).put("data", v) }
    mapper.writeValueAsString(root)
  }

  def detokenizeBody(tokens: Seq[String]): String = {
    val root = mapper.createObjectNode()
    val found = root.putObject("tokens")
    tokens.filter(t => t.startsWith("T(") && t.endsWith(")")).foreach(t => found.put(t, t.substring(2, t.length - 1)))
    mapper.writeValueAsString(root)
  }

  /** Redshift's answer: T(value) from the tokenize function; the value back (or null) from a "-detokenize" one. */
  def redshiftBody(function: String, values: Seq[String]): String = {
    val root = mapper.createObjectNode().put("success", true).put("num_records", values.size)
    val results = root.putArray("results")
    values.foreach { v =>
      if (!function.endsWith("-detokenize")) results.add(tokenFor(v))
      else if (v.startsWith("T(") && v.endsWith(")")) results.add(v.substring(2, v.length - 1))
      else results.addNull()
    }
    mapper.writeValueAsString(root)
  }

  private def handle(exchange: HttpExchange): Unit = {
    try {
      val body = exchange.getRequestBody.readAllBytes()
      val event = mapper.readTree(body).asInstanceOf[ObjectNode]
      invocations.incrementAndGet()
      requestBytes.add(body.length)
      val function = java.net.URLDecoder.decode(exchange.getRequestURI.getPath.split("/")(3), "UTF-8")
      functionsCalled.add(function)
      val now = concurrent.incrementAndGet() // decremented in finally
      maxConcurrent.accumulateAndGet(now, math.max)
      if (jitterMs > 0) Thread.sleep(java.util.concurrent.ThreadLocalRandom.current().nextInt(jitterMs + 1).toLong)
      val reply =
        if (event.has("arguments")) {
          redshiftEvents.add(event)
          val values = event.get("arguments").elements().asScala.map(_.get(0).asText()).toSeq
          batches.add(values)
          respondRedshift(function, values)
        } else if (event.has("requests")) {
          val values = event.get("requests").elements().asScala.map(_.get("data").asText()).toSeq
          batches.add(values)
          respond(values)
        } else {
          val tokens = event.get("tokens").elements().asScala.map(_.asText()).toSeq
          batches.add(tokens)
          Option(event.get("role")).foreach(role => roles.add(role.asText()))
          respondDetokenize(tokens)
        }
      if (reply.delayMs > 0) Thread.sleep(reply.delayMs.toLong)
      val bytes = reply.body.getBytes(UTF_8)
      reply.headers.foreach { case (k, v) => exchange.getResponseHeaders.add(k, v) }
      exchange.getResponseHeaders.add("Content-Type", "application/json")
      exchange.sendResponseHeaders(reply.status, if (bytes.isEmpty) -1 else bytes.length.toLong)
      if (reply.truncate) {
        // Half the promised body, then the connection goes away: a reset mid-response.
        exchange.getResponseBody.write(bytes, 0, bytes.length / 2)
        exchange.getResponseBody.flush()
      } else if (bytes.nonEmpty) exchange.getResponseBody.write(bytes)
    } catch {
      case _: InterruptedException => Thread.currentThread().interrupt()
    } finally {
      concurrent.decrementAndGet()
      exchange.close()
    }
  }

  /** Forget what was recorded and restore the default behaviour. */
  def reset(): Unit = {
    batches.clear(); roles.clear(); redshiftEvents.clear()
    requestBytes.clear(); functionsCalled.clear(); invocations.set(0); maxConcurrent.set(0); jitterMs = 0
    respond = values => Reply(200, Map.empty, tokenizeBody(values))
    respondDetokenize = tokens => Reply(200, Map.empty, detokenizeBody(tokens))
    respondRedshift = (function, values) => Reply(200, Map.empty, redshiftBody(function, values))
  }

  def sentValues: Seq[String] = batches.toArray.toSeq.flatMap(_.asInstanceOf[Seq[String]])

  override def close(): Unit = server.stop(0)
}

object FakeLambda {
  final case class Reply(status: Int, headers: Map[String, String], body: String, delayMs: Int = 0, truncate: Boolean = false)

  def throttled: Reply = Reply(429, Map("x-amzn-ErrorType" -> "TooManyRequestsException"), """{"message":"Rate Exceeded."}""")
  def throttledRetryAfter(seconds: Int): Reply = throttled.copy(headers = throttled.headers + ("Retry-After" -> seconds.toString))
  /** What Lambda answers a caller whose IAM policy does not allow lambda:InvokeFunction. */
  def accessDenied: Reply = Reply(403, Map("x-amzn-ErrorType" -> "AccessDeniedException"),
    """{"Message":"User: arn:aws:iam::000000000000:user/etl is not authorized to perform: lambda:InvokeFunction"}""")
  def serverError(status: Int): Reply =
    Reply(status, Map("x-amzn-ErrorType" -> "ServiceException"), """{"message":"Internal error"}""")
  /** Redshift's whole-batch failure, with the error_msg given (which may quote a value, as real functions' do). */
  def redshiftRefusal(message: String): Reply = Reply(200, Map.empty,
    new ObjectMapper().createObjectNode().put("success", false).put("error_msg", message).toString)
  def functionError(kind: String, errorType: String): Reply =
    Reply(200, Map("X-Amz-Function-Error" -> kind), s"""{"errorMessage":"failed","errorType":"$errorType"}""")
}
