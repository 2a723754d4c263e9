package org.apache.spark.tegridy

import scala.util.control.NonFatal

import org.apache.spark.{SparkContext, SparkEnv}
import org.apache.spark.rpc.{RpcEndpointRef, RpcEnv, ThreadSafeRpcEndpoint}
import org.apache.spark.scheduler.{JobFailed, JobResult}
import org.apache.spark.util.RpcUtils

/**
 * The Spark internals that carry figures Spark's accumulators drop: a task attempt killed after
 * its stage ended (the losing copy of a speculative task, the other tasks of a cancelled or failed
 * job) has its accumulator updates discarded by the scheduler, so it sends its figures over this
 * RPC endpoint of the driver instead; and a failed job's error, read from the scheduler's result.
 */
object DriverChannel {
  private val EndpointName = "tegridy-figures"

  /** Opens the driver's endpoint for `sc`; `handle` gets each message an executor sends. */
  def listen(sc: SparkContext)(handle: AnyRef => Unit): Unit = {
    val env = sc.env
    val endpoint = new ThreadSafeRpcEndpoint {
      override val rpcEnv: RpcEnv = env.rpcEnv
      override def receive: PartialFunction[Any, Unit] = { case message: AnyRef => handle(message) }
    }
    try env.rpcEnv.setupEndpoint(EndpointName, endpoint)
    catch { case _: IllegalArgumentException => } // already open in this RpcEnv
  }

  // The driver's endpoint as this executor's RpcEnv sees it, looked up once per RpcEnv.
  @volatile private var cached: (RpcEnv, RpcEndpointRef) = (null, null)

  /** Sends `message` to the driver's endpoint; false when it cannot be (no SparkEnv, no endpoint). */
  def send(message: AnyRef): Boolean = {
    val env = SparkEnv.get
    if (env == null) return false
    try {
      val (rpcEnv, known) = cached
      val ref = if ((rpcEnv eq env.rpcEnv) && known != null) known else {
        val fresh = RpcUtils.makeDriverRef(EndpointName, env.conf, env.rpcEnv)
        cached = (env.rpcEnv, fresh)
        fresh
      }
      ref.send(message)
      true
    } catch { case NonFatal(_) => false }
  }

  /** The error a failed job ended with; None for one that succeeded. */
  def failure(result: JobResult): Option[Exception] = result match {
    case JobFailed(error) => Some(error)
    case _ => None
  }
}
