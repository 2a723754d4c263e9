package com.tegridy.spark.runtime

import java.util.concurrent.{CompletableFuture, CountDownLatch, TimeUnit, Future => JFuture}
import java.util.concurrent.atomic.{AtomicInteger, AtomicReference}

import com.tegridy.spark.client.{Answer, CallContext, Operation}

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
    abortCall: Thread => Unit = _ => (),
    val context: CallContext = CallContext.Unknown) {

  private val handle = new AtomicReference[JFuture[_]]()
  /** The invocation thread while the job runs its call. */
  private val caller = new AtomicReference[Thread]()
  /** Queued, running, or over (answered, failed, or cancelled before it ran). */
  private val state = new AtomicInteger(BatchJob.Queued)
  private val over = new CountDownLatch(1)

  /** Marks the job as running; false if it was cancelled before its turn came. */
  private[runtime] def start(): Boolean = state.compareAndSet(BatchJob.Queued, BatchJob.Running)
  private[runtime] def finish(): Unit = { state.set(BatchJob.Over); over.countDown() }

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
    if (state.compareAndSet(BatchJob.Queued, BatchJob.Over)) over.countDown() // never ran: nothing to stop
    val future = handle.get()
    if (future != null) future.cancel(true)
    val thread = caller.getAndSet(null)
    if (thread != null) abortCall(thread) // a blocked socket read does not notice the interrupt
    abandon()
  }

  /**
   * Waits (briefly) until a cancelled call has come back, so that what it did (an invocation,
   * its bytes, a retry) is in the task's figures before the task reports them.
   */
  def awaitOver(timeoutMs: Long): Boolean = over.await(timeoutMs, TimeUnit.MILLISECONDS)

  def isDone: Boolean = futures.forall(_.isDone)
}

private object BatchJob {
  val Queued = 0
  val Running = 1
  val Over = 2
}
