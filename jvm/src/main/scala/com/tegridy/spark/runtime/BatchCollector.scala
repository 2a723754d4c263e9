package com.tegridy.spark.runtime

import java.util.concurrent.ExecutionException

import scala.collection.mutable

import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.util.{ArrayData, GenericArrayData}
import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.client.{Answer, CallContext, Operation, ServiceFailure}
import com.tegridy.spark.config.{RedshiftCaller, WireFormat}
import com.tegridy.spark.metrics.TegridyStats
import com.tegridy.spark.expressions.TegridyTokenizeExpression
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.shims.Utf8Bytes

/**
 * The one lookup pipeline, per task and per (runtime, operation). Every value, from a batched
 * row or from `eval` (a batch of one), takes the same path:
 *
 *   NULL or blank -> answered at once, never sent
 *   invalid UTF-8 -> fails, never sent
 *   window        -> another row of this task holds the same value: share its slot
 *   cache         -> the executor's cache has the answer
 *   claim         -> another task's request is in flight: share it (single-flight)
 *   batch         -> ours to send: collected until `batch.maxRows` values or `batch.maxBytes`
 *   send          -> on the runtime's invocation threads, up to `maxInFlight` at once
 *   answer        -> [[resultOf]] waits, asks again if the request was abandoned, and applies
 *                    `onError` to a failure
 */
final class BatchCollector(
    val runtime: TegridyRuntime,
    operation: Operation,
    function: String,
    stats: TegridyStats,
    windowed: Boolean = true) {

  import BatchCollector.WindowCap

  private val conf = runtime.conf
  // Keyed by the raw bytes: a repeated value is found without decoding it to a String.
  private val window = if (windowed) new ValueWindow(WindowCap) else null
  private val slots = mutable.ArrayBuffer[Slot]() // the batch being collected
  private val unsent = new java.util.HashSet[String]() // its keys, for lookups
  // The function the requests name (protocol=redshift sends it as external_function): the setting, else
  // the family's (every tokenize function is tegridy_tokenize_hp to the service).
  private val sentFunction = conf.redshiftExternalFunction.getOrElse(
    if (operation == Operation.Tokenize) TegridyTokenizeExpression.Name else function)
  private val emptyBatchBytes = runtime.requestOverheadBytes(operation, sentFunction)
  // Read once per collector, at its first batch: which function and query the batches are for (protocol=redshift sends them).
  private lazy val context = CallContext(sentFunction,
    if (conf.protocol == WireFormat.Redshift) RedshiftCaller.currentQueryId() else None)
  private var batchBytes = emptyBatchBytes
  private val jobs = mutable.ArrayBuffer[BatchJob]()

  /** The slot that will answer `value` (NULL allowed). */
  def lookUp(value: UTF8String): Slot = {
    if (value == null) { stats.increment(Counter.NullsOrBlanks); return Slot.NullValue }
    if (windowed) {
      val seen = window.get(value)
      if (seen != null) return seen
      // Bounded: forgetting only costs dedup, since the runtime's in-flight map still shares requests.
      if (window.isFull || !window.wouldHold(value)) window.clear()
    }
    val slot =
      if (BlankValues.isBlank(value)) { stats.increment(Counter.NullsOrBlanks); new Slot(null).settle(value.clone()) }
      else {
        stats.increment(Counter.DistinctValues)
        if (!Utf8Bytes.isValid(value)) failed(new Slot(null), runtime.invalidUtf8)
        else {
          val key = value.toString
          val hit = runtime.cached(operation, key)
          if (hit != null) { stats.increment(Counter.CacheHits); new Slot(key).settle(UTF8String.fromString(hit)) }
          else claim(new Slot(key))
        }
      }
    if (windowed && window.wouldHold(value)) window.put(value, slot) // (a value too long for it goes unwindowed)
    slot
  }

  /**
   * The row's result for `slot`, waiting for its answer; asks again if its request was abandoned.
   * `redactDenied` (safe_detokenize): an access-denied answer gives [[BatchCollector.Redacted]]
   * instead of failing. The slot is left unsettled then, as another call may share it and fail.
   */
  def resultOf(slot: Slot, redactDenied: Boolean = false): UTF8String = {
    while (!slot.settled) {
      // Waiting on a batch of ours not yet sent: send it, even if not full.
      if (!slot.sent) flush()
      val answer = try slot.future.get() catch { case e: ExecutionException => throw e.getCause }
      answer match {
        case Answer.Token(text) => slot.settleToken(text)
        case Answer.Failed(denied: ServiceFailure) if redactDenied && denied.accessDenied =>
          stats.increment(Counter.Redacted)
          return BatchCollector.Redacted
        // onError=fail or a service failure throws here; onError=null gives NULL, counted once per value.
        case Answer.Failed(failure) =>
          slot.failure = failure
          slot.settle(runtime.onFailure(failure, operation, function, stats))
        case Answer.Abandoned => claim(slot) // the task that was asking ended; ask ourselves
      }
    }
    slot.result
  }

  /**
   * STRUCT<token, error> for the row: the token, or NULL and why the value failed (never the
   * value), for per-row error columns. Only for calls whose settings return NULL for a failed
   * value; an outage still throws.
   */
  def outcomeOf(slot: Slot): InternalRow = {
    val token = resultOf(slot)
    InternalRow(token, if (slot.failure != null) UTF8String.fromString(slot.failure.reason) else null)
  }

  /** An array argument's results, element by element. */
  def resultsOf(slots: Array[Slot], redactDenied: Boolean): ArrayData =
    new GenericArrayData(slots.map(resultOf(_, redactDenied): Any))

  /** Sends the values collected so far, if any. */
  def flush(): Unit = if (slots.nonEmpty) {
    jobs += runtime.submit(operation, slots.map(_.key).toIndexedSeq, slots.map(_.future).toIndexedSeq, stats, context)
    slots.foreach(_.sent = true)
    slots.clear(); unsent.clear()
    batchBytes = emptyBatchBytes
    if (jobs.size > 256) {
      val pending = jobs.filterNot(_.isDone)
      jobs.clear(); jobs ++= pending
    }
  }

  /** At task end: stop this task's requests; whoever shares them asks again. */
  def cancelAll(): Unit = {
    val cancelled = jobs.filter(!_.isDone)
    try {
      cancelled.foreach(_.cancel())
      // Aborted calls come back at once; wait for them so their figures are counted with the task.
      // The bound is generous because on a starved machine "at once" took over 2 s (FaultGapsSuite).
      val deadline = System.nanoTime() + 10000L * 1000 * 1000
      cancelled.foreach(job => job.awaitOver(math.max(0L, (deadline - System.nanoTime()) / 1000000)))
    } catch {
      // A killed task's thread may be interrupted again here: stop waiting, keep the interrupt.
      case _: InterruptedException => Thread.currentThread().interrupt()
    } finally {
      // Whatever happened above, give up the values never sent: a claim left behind would make
      // every later task that needs the value wait for a request that will never be made.
      jobs.clear()
      runtime.abandon(operation, slots.map(_.key).toIndexedSeq, slots.map(_.future).toIndexedSeq)
      slots.clear(); unsent.clear()
    }
  }

  private def claim(slot: Slot): Slot = {
    val (future, owner) = runtime.claim(operation, slot.key)
    slot.future = future
    if (owner) {
      if (future.isDone) slot.sent = true else add(slot)
    } else if (unsent.contains(slot.key)) {
      slot.sent = false // our own batch-to-be holds it (the window was forgotten meanwhile)
    } else {
      stats.increment(Counter.SharedInFlight)
      slot.sent = true
    }
    slot
  }

  private def add(slot: Slot): Unit = {
    val size = runtime.itemBytes(operation, slot.key)
    if (emptyBatchBytes + size > conf.batchMaxBytes) {
      // Alone too large for one invocation: fail it here, never send it.
      runtime.abandon(operation, IndexedSeq(slot.key), IndexedSeq(slot.future)) // frees the claim
      failed(slot, runtime.tooLarge)
      return
    }
    if (batchBytes + size > conf.batchMaxBytes) flush()
    slots += slot
    unsent.add(slot.key)
    batchBytes += size
    if (slots.size >= conf.batchMaxRows) flush()
  }

  private def failed(slot: Slot, failure: com.tegridy.spark.client.ValueFailure): Slot = {
    slot.future = java.util.concurrent.CompletableFuture.completedFuture[Answer](Answer.Failed(failure))
    slot.sent = true
    slot
  }
}

object BatchCollector {
  /** What safe_detokenize gives for a token the caller may not detokenize. */
  val Redacted: UTF8String = UTF8String.fromString("[REDACTED]")

  /** Distinct values remembered per task window before it is forgotten. */
  private val WindowCap = 100000
}
