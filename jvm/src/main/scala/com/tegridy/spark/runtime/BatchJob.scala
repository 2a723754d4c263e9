package com.tegridy.spark.runtime

import java.util.concurrent.{CompletableFuture, Future => JFuture}
import java.util.concurrent.atomic.AtomicReference

import com.tegridy.spark.client.{Answer, Operation}

/**
 * One invocation's worth of values, owned by the task that submitted it. Its futures are the
 * ones other tasks may be waiting on (single-flight), so however the job ends (answered,
 * failed, cancelled before or during its call) every future is completed and every in-flight
 * entry released: nobody waits for a request that will never come.
 */
final class BatchJob(
    val operation: Operation,
    val keys: IndexedSeq[String],
    val futures: IndexedSeq[CompletableFuture[Answer]],
    release: BatchJob => Unit,
    abortCall: Thread => Unit = _ => ()) {

  private val handle = new AtomicReference[JFuture[_]]()
  /** The invocation thread while the job runs its call. */
  private val caller = new AtomicReference[Thread]()

  private[runtime] def calling(thread: Thread): Unit = caller.set(thread)
  private[runtime] def called(): Unit = caller.set(null)

  private[runtime] def attach(future: JFuture[_]): Unit = handle.set(future)

  /** Completes every still-open future as abandoned (sharers ask again), then frees the in-flight entries. */
  private[runtime] def abandon(): Unit = {
    futures.foreach(_.complete(Answer.Abandoned))
    release(this)
  }

  /** Called when the owning task ends: stop the call if it has not finished. */
  def cancel(): Unit = {
    val future = handle.get()
    if (future != null) future.cancel(true)
    val thread = caller.getAndSet(null)
    if (thread != null) abortCall(thread) // a blocked socket read does not notice the interrupt
    abandon()
  }

  def isDone: Boolean = futures.forall(_.isDone)
}
