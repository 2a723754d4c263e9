package com.tegridy.spark.bench

import java.lang.management.ManagementFactory

import com.tegridy.spark.cache.TokenCache
import com.tegridy.spark.client.{Operation, TokenServiceClient, WireProtocol}
import com.tegridy.spark.config.{Settings, TegridyConf}
import com.tegridy.spark.metrics.TegridyStats

/**
 * CPU of the calling thread per invocation of 500 values, by stage, against the fake fleet with
 * no latency (a measurement for docs/benchmarks.md, not a test; thread CPU time, so other load on
 * the machine moves it little):
 *
 *   build/sbt "spark/Test/runMain com.tegridy.spark.bench.ClientCost"
 */
object ClientCost {
  private val Values = 500
  private val Rounds = sys.props.getOrElse("rounds", "2000").toInt

  def main(args: Array[String]): Unit = {
    val fleet = FakeFleet.start(0, 0, 4)
    val conf = TegridyConf.from(Map(Settings.FunctionName.key -> "tegridy-tokens", Settings.Endpoint.key -> fleet.endpoint))
    val client = TokenServiceClient.forLambda(conf)
    val stats = new TegridyStats
    var round = 0L
    def batch(): IndexedSeq[String] = { round += 1; (0 until Values).map(i => s"cost${round}r-uniq$i@example.com") }
    val sent = batch()
    val response = FakeFleet.respond(WireProtocol.tokenizeRequest(sent))._1
    val only = args.headOption // a stage's first word, to profile it alone
    def report(stage: String, work: () => Any): Unit = if (only.forall(stage.startsWith)) ClientCost.report(stage, work)
    try {
      report("JSON: write the request", () => WireProtocol.tokenizeRequest(sent))
      report("JSON: parse the response", () => WireProtocol.parseTokenizeResponse(response, sent))
      report("whole call (JSON + SDK + HTTP, fleet excluded)", () => client.call(Operation.Tokenize, batch(), stats))
      val cache = TokenCache.create(2000000L).get
      report("token cache: insert 500 new keys (cache/, for reference)", () => batch().foreach(k => cache.put(k, "tgr_0123456789abcdef0123456789abcdef0123456789a")))
      val absent = batch()
      report("token cache: read 500 keys it does not hold (one per unique value)", () => absent.foreach(cache.get))
    } finally { client.close(); fleet.stop() }
  }

  private[bench] def report(stage: String, work: () => Any): Unit = {
    val bean = ManagementFactory.getThreadMXBean
    var i = 0
    while (i < Rounds) { work(); i += 1 } // warm-up: the JIT's, not measured
    val started = bean.getCurrentThreadCpuTime
    val startedUser = bean.getCurrentThreadUserTime
    i = 0
    while (i < Rounds) { work(); i += 1 }
    val perCall = (bean.getCurrentThreadCpuTime - started) / Rounds
    val kernel = perCall - (bean.getCurrentThreadUserTime - startedUser) / Rounds
    println(f"$stage%-60s ${perCall / 1000.0}%8.1f µs per invocation (${kernel / 1000.0}%.1f in the kernel)  " +
      f"${perCall / 1000.0 / Values}%6.2f µs per value")
  }
}
