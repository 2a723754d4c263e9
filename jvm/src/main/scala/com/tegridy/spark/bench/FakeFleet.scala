package com.tegridy.spark.bench

import java.io.ByteArrayOutputStream
import java.lang.management.ManagementFactory
import java.net.InetSocketAddress
import java.nio.charset.StandardCharsets
import java.util.concurrent.{Executors, TimeUnit}
import java.util.concurrent.atomic.AtomicLong

import com.sun.net.httpserver.{HttpExchange, HttpHandler, HttpServer}

/**
 * A Lambda fleet that costs (almost) no CPU, for client benchmarks (issue 15 §3): the Invoke
 * route of the tokenize function answered after a fixed latency by a sleeping thread, with tokens
 * derived cheaply from the request bytes and no JSON library. The benchmark
 * (benchmarks/fake_fleet.py) starts it in the driver's JVM through py4j, so the client's throughput
 * can be compared with the fleet's Little's-law bound, maxInFlight x batch.maxRows / latency,
 * without the reference service's CPU in the way.
 *
 *   request   {"requests":[{"data":"v1"},...]}   (the client's own bytes; escapes are kept as sent)
 *   response  {"responses":[{"success":true,"token":"tgr_<fnv>","data":"v1"},...]}
 *
 * The token is "tgr_" + 16 hex digits of FNV-1a-64 over the value's bytes as they appear in the
 * request, padded with "0" to the real token's 47 characters: deterministic, so a test can check it.
 * Not a service: no detokenize, no errors, no limits; loopback only.
 */
final class FakeFleet private (val port: Int, latencyMs: Long, server: HttpServer, threads: ThreadGroup) {
  val invocations = new AtomicLong
  val valuesReceived = new AtomicLong

  /**
   * CPU the fleet's own threads (its HTTP server's dispatcher and handlers) have used, in
   * nanoseconds: it shares the client's JVM, so the benchmark takes it out of the client's figure.
   */
  def cpuNanos: Long = {
    val live = new Array[Thread](threads.activeCount() + 8)
    val count = threads.enumerate(live)
    val bean = ManagementFactory.getThreadMXBean
    var total = 0L
    var i = 0
    while (i < count) { total += math.max(0L, bean.getThreadCpuTime(live(i).getId)); i += 1 }
    total
  }

  def endpoint: String = s"http://127.0.0.1:$port"
  def stop(): Unit = server.stop(0)
  def stats: String = s"""{"invocations":${invocations.get},"values_received":${valuesReceived.get}}"""

  private[bench] def answer(exchange: HttpExchange): Unit = {
    val started = System.nanoTime()
    try {
      val request = readAll(exchange)
      val (response, values) = FakeFleet.respond(request)
      invocations.incrementAndGet()
      valuesReceived.addAndGet(values)
      val waitNanos = TimeUnit.MILLISECONDS.toNanos(latencyMs) - (System.nanoTime() - started)
      if (waitNanos > 0) TimeUnit.NANOSECONDS.sleep(waitNanos) // the fleet's round trip, at no CPU cost
      exchange.getResponseHeaders.set("Content-Type", "application/json")
      exchange.getResponseHeaders.set("X-Amz-Executed-Version", "$LATEST")
      exchange.sendResponseHeaders(200, response.length.toLong)
      exchange.getResponseBody.write(response)
    } finally exchange.close()
  }

  // The body in one array of its announced length: the fleet should cost (almost) no CPU, GC included.
  private def readAll(exchange: HttpExchange): Array[Byte] = {
    val in = exchange.getRequestBody
    val announced = exchange.getRequestHeaders.getFirst("Content-Length")
    if (announced != null) in.readNBytes(announced.trim.toInt) else in.readAllBytes()
  }
}

object FakeFleet {
  private val DataKey = "\"data\":\"".getBytes(StandardCharsets.US_ASCII)
  private val Open = "{\"responses\":[".getBytes(StandardCharsets.US_ASCII)
  private val ItemStart = "{\"success\":true,\"token\":\"tgr_".getBytes(StandardCharsets.US_ASCII)
  private val ItemData = "\",\"data\":\"".getBytes(StandardCharsets.US_ASCII)
  private val ItemEnd = "\"}".getBytes(StandardCharsets.US_ASCII)
  private val Close = "]}".getBytes(StandardCharsets.US_ASCII)
  private val Hex = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII)
  private val TokenPadding = 43 - 16

  /** Starts a fleet on 127.0.0.1:`port` (0: any free port) answering after `latencyMs`; `threads`
   * bounds the invocations it holds at once (each sleeps on its own thread). */
  def start(port: Int, latencyMs: Long, threads: Int): FakeFleet = {
    // Every thread of the fleet (the server's dispatcher too, started from a thread of this group) is in one group, for cpuNanos.
    val group = new ThreadGroup("tegridy-fake-fleet")
    val server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 1024)
    val fleet = new FakeFleet(server.getAddress.getPort, latencyMs, server, group)
    server.createContext("/", new HttpHandler { def handle(exchange: HttpExchange): Unit = fleet.answer(exchange) })
    server.setExecutor(Executors.newFixedThreadPool(threads, (task: Runnable) => {
      val handler = new Thread(group, task, "tegridy-fake-fleet-handler")
      handler.setDaemon(true) // a stopped fleet does not keep its JVM alive
      handler
    }))
    val starter = new Thread(group, () => server.start(), "tegridy-fake-fleet-start")
    starter.start()
    starter.join()
    fleet
  }

  /** The response to a tokenize request's bytes, and how many values it answered. */
  def respond(request: Array[Byte]): (Array[Byte], Int) = {
    // Each item grows by its token and the fixed parts around it (about 75 bytes): room for it, no regrowing.
    val out = new ByteArrayOutputStream(request.length * 4 + 1024)
    out.write(Open)
    var values = 0
    var at = indexOf(request, DataKey, 0)
    while (at >= 0) {
      val start = at + DataKey.length
      val end = closingQuote(request, start)
      if (values > 0) out.write(',')
      out.write(ItemStart)
      writeToken(out, request, start, end)
      out.write(ItemData)
      out.write(request, start, end - start)
      out.write(ItemEnd)
      values += 1
      at = indexOf(request, DataKey, end + 1)
    }
    out.write(Close)
    (out.toByteArray, values)
  }

  /** The token's 43 characters after "tgr_" for the value bytes [start, end). */
  def tokenOf(value: Array[Byte]): String = {
    val out = new ByteArrayOutputStream(43)
    writeToken(out, value, 0, value.length)
    new String(out.toByteArray, StandardCharsets.US_ASCII)
  }

  private def writeToken(out: ByteArrayOutputStream, bytes: Array[Byte], start: Int, end: Int): Unit = {
    var hash = 0xcbf29ce484222325L
    var i = start
    while (i < end) { hash = (hash ^ (bytes(i) & 0xff)) * 0x100000001b3L; i += 1 }
    var shift = 60
    while (shift >= 0) { out.write(Hex(((hash >>> shift) & 0xf).toInt)); shift -= 4 }
    i = 0
    while (i < TokenPadding) { out.write('0'); i += 1 }
  }

  /** The index of the quote that ends a JSON string starting at `from` (escapes skipped). */
  private def closingQuote(bytes: Array[Byte], from: Int): Int = {
    var i = from
    while (i < bytes.length && bytes(i) != '"') i += (if (bytes(i) == '\\') 2 else 1)
    i
  }

  private def indexOf(bytes: Array[Byte], pattern: Array[Byte], from: Int): Int = {
    var i = from
    val last = bytes.length - pattern.length
    while (i <= last) {
      var j = 0
      while (j < pattern.length && bytes(i + j) == pattern(j)) j += 1
      if (j == pattern.length) return i
      i += 1
    }
    -1
  }
}
