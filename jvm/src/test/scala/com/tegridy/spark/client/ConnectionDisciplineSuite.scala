package com.tegridy.spark.client

import java.io.{BufferedInputStream, InputStream}
import java.net.{InetAddress, ServerSocket, Socket}
import java.nio.charset.StandardCharsets.{ISO_8859_1, UTF_8}
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.ObjectMapper
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.metrics.TegridyStats

/**
 * Under protocol=redshift a reply cannot be matched to its request, so a connection that carried
 * a failed call (a late reply, a body left unread) must never carry another request:
 * what is still on it could be read as the next request's answer. A raw HTTP/1.1 server that keeps
 * connections alive records which connection each request came on.
 */
class ConnectionDisciplineSuite extends AnyFunSuite {
  private val mapper = new ObjectMapper()

  /** Request n (from 1) gets `reply(n, values)`: (delay ms, body); a negative delay sends half the body, then the rest that late. */
  private final class RawServer(reply: (Int, Seq[String]) => (Int, String)) extends AutoCloseable {
    private val socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress)
    private val connections = new AtomicInteger()
    private val requests = new AtomicInteger()
    /** Request number -> the number of the connection it came on. */
    val connectionOf = new ConcurrentHashMap[Int, Int]()
    def endpoint: String = s"http://127.0.0.1:${socket.getLocalPort}"

    private val acceptor = new Thread(() => {
      try while (true) {
        val client = socket.accept()
        val id = connections.incrementAndGet()
        val worker = new Thread(() => serve(client, id))
        worker.setDaemon(true)
        worker.start()
      } catch { case _: java.io.IOException => }
    })
    acceptor.setDaemon(true)
    acceptor.start()

    private def serve(client: Socket, connection: Int): Unit = try {
      val in = new BufferedInputStream(client.getInputStream)
      var head = readHead(in)
      while (head != null) {
        val length = head.linesIterator.collectFirst {
          case line if line.toLowerCase.startsWith("content-length:") => line.split(":", 2)(1).trim.toInt
        }.getOrElse(0)
        val event = mapper.readTree(in.readNBytes(length))
        val values = event.get("arguments").elements().asScala.map(_.get(0).asText()).toSeq
        val n = requests.incrementAndGet()
        connectionOf.put(n, connection)
        val (delayMs, body) = reply(n, values)
        val bytes = body.getBytes(UTF_8)
        val cut = delayMs < 0 // headers and half the body, then nothing more for a while: an unread body
        if (delayMs > 0) Thread.sleep(delayMs.toLong)
        client.getOutputStream.write((s"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
          s"Content-Length: ${bytes.length}\r\n\r\n").getBytes(ISO_8859_1) ++ (if (cut) bytes.take(bytes.length / 2) else bytes))
        client.getOutputStream.flush()
        if (cut) {
          Thread.sleep(-delayMs.toLong)
          client.getOutputStream.write(bytes.drop(bytes.length / 2)) // the rest, late
          client.getOutputStream.flush()
        }
        head = readHead(in)
      }
    } catch { case _: Exception => } finally client.close()

    private def readHead(in: InputStream): String = {
      val head = new StringBuilder
      while (!head.endsWith("\r\n\r\n")) {
        val b = in.read()
        if (b < 0) return null
        head.append(b.toChar)
      }
      head.toString
    }

    override def close(): Unit = socket.close()
  }

  private def answer(values: Seq[String]): String =
    values.map(v => s""""T($v)"""").mkString(s"""{"success":true,"num_records":${values.size},"results":[""", ",", "]}")

  private def client(endpoint: String): TokenServiceClient = TokenServiceClient.forLambda(TegridyConf.from(Map(
    "spark.tegridy.lambda.functionName" -> "f", "spark.tegridy.lambda.endpoint" -> endpoint,
    "spark.tegridy.protocol" -> "redshift", "spark.tegridy.timeoutMs" -> "500")))

  test("a call that timed out, or left its body unread, leaves its connection unused ever after") {
    val server = new RawServer((n, values) => n match {
      case 1 => (1500, answer(values)) // late: after the client's timeout
      case 2 => (-1500, answer(values)) // half the body, the rest after the client's timeout
      case _ => (0, answer(values))
    })
    val tokens = client(server.endpoint)
    try {
      val first = tokens.call(Operation.Tokenize, IndexedSeq("a1", "a2"), new TegridyStats)
      val second = tokens.call(Operation.Tokenize, IndexedSeq("b1", "b2"), new TegridyStats)
      assert(first.toSeq == Seq(Answer.Token("T(a1)"), Answer.Token("T(a2)")))
      assert(second.toSeq == Seq(Answer.Token("T(b1)"), Answer.Token("T(b2)")))
      val byConnection = server.connectionOf.asScala.toSeq.groupBy(_._2).map { case (c, rs) => c -> rs.map(_._1).toSet }
      Seq(1, 2).foreach { failed =>
        val connection = server.connectionOf.get(failed)
        assert(byConnection(connection) == Set(failed), s"request $failed's connection carried requests ${byConnection(connection)}")
      }
    } finally {
      tokens.close()
      server.close()
    }
  }
}
