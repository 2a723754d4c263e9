package com.tegridy.spark.execution

import java.util.concurrent.{CompletableFuture, ExecutionException}

import scala.collection.mutable

import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions._
import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.client.WireProtocol
import com.tegridy.spark.expressions.{BlankValues, TegridyStringFunction}
import com.tegridy.spark.metrics.TegridyStats
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.client.ValueFailure
import com.tegridy.spark.runtime.{AbandonedRequest, BatchJob, Operation, TegridyRuntime}

/**
 * One partition through BatchTokenizeExec: rows in, the same rows out in the same order, each
 * joined with its calls' results.
 *
 * Each row's arguments are looked up at once: NULL and blank need no answer, the executor cache
 * may have it, another row in this task's window may already be waiting for it, or another task
 * of this executor may be asking for it (single-flight). Only values nobody holds go into a
 * [[BatchCollector]], which sends a batch when it reaches `batch.maxRows` values or
 * `batch.maxBytes` bytes; up to `maxInFlight` batches run at once on the runtime's threads.
 *
 * Rows wait in a FIFO buffer bounded in rows and bytes. When it is full, or the input ends, the
 * head row's batch is sent even if not full and the task waits for it: back-pressure, never the
 * whole partition in memory. While the buffer is empty, a row whose answers are all known at
 * once is emitted without being copied (the repeated-values fast path).
 */
final class BatchTokenizeIterator(
    input: Iterator[InternalRow],
    calls: Seq[Expression],
    childOutput: Seq[Attribute],
    output: Seq[Attribute],
    stats: TegridyStats) extends Iterator[InternalRow] {

  import BatchTokenizeIterator._

  private val callCount = calls.length
  // Every call's argument (or, for a call the optimizer rewrote into something else, the whole
  // expression) in one generated projection: interpreted eval of e.g. concat() cost more per row
  // than the lookup itself (JFR, docs/benchmarks.md).
  private val argumentTypes = calls.map {
    case call: TegridyStringFunction => call.child.dataType
    case other => other.dataType
  }.toArray
  private val arguments: MutableProjection = MutableProjection.create(calls.map {
    case call: TegridyStringFunction => call.child
    case other => other
  }, childOutput)

  // One collector per (runtime, operation): calls with the same settings share batches.
  private val collectorOf: Array[BatchCollector] = {
    val byKey = mutable.LinkedHashMap[(TegridyRuntime, Operation), BatchCollector]()
    calls.map {
      case call: TegridyStringFunction =>
        val runtime = TegridyRuntime.forConf(call.conf)
        byKey.getOrElseUpdate((runtime, call.operation), new BatchCollector(runtime, call.operation, call.prettyName, stats))
      case _ => null
    }.toArray
  }
  private val collectors: Seq[BatchCollector] = collectorOf.filter(_ != null).distinct.toSeq

  private val (rowCap, byteCap) = collectors.headOption.map(c => bufferLimits(c.runtime)).getOrElse((1, Long.MaxValue))
  private val buffer = new java.util.ArrayDeque[PendingRow]()
  private var bufferedBytes = 0L

  private val results = new GenericInternalRow(callCount)
  private val joined = new JoinedRow()
  private val project = UnsafeProjection.create(output, output)
  private var closed = false
  private var rows = 0L // counted here, added to `stats` at close: no atomic operation per row

  override def hasNext: Boolean = !buffer.isEmpty || input.hasNext

  override def next(): InternalRow = {
    if (buffer.isEmpty) {
      if (!input.hasNext) throw new NoSuchElementException
      val row = input.next()
      val answers = lookUp(row)
      if (allKnown(answers)) return emit(row, answers) // nothing to wait for: no copy, no buffer
      enqueue(row, answers)
    }
    // Let batches fill while the head waits: read ahead up to the buffer's bounds.
    while (buffer.size < rowCap && bufferedBytes < byteCap && input.hasNext) {
      val row = input.next()
      enqueue(row, lookUp(row))
    }
    val head = buffer.poll()
    bufferedBytes -= head.bytes
    if (buffer.isEmpty) collectors.foreach(_.forgetWindow()) // every slot is answered by now
    emit(head.row, head.answers)
  }

  /** One entry per call: a final UTF8String, null, or a [[Slot]] still to be answered. */
  private def lookUp(row: InternalRow): Array[AnyRef] = {
    rows += 1
    val answers = new Array[AnyRef](callCount)
    val values = arguments(row)
    var i = 0
    while (i < callCount) {
      val collector = collectorOf(i)
      val value = if (values.isNullAt(i)) null else values.get(i, argumentTypes(i))
      answers(i) =
        if (collector == null) value match {
          case utf8: UTF8String => utf8.clone() // may point into a row buffer that is reused
          case other => other.asInstanceOf[AnyRef]
        }
        else if (value == null) { stats.increment(Counter.NullsOrBlanks); null }
        else {
          val utf8 = value.asInstanceOf[UTF8String]
          if (BlankValues.isBlank(utf8)) { stats.increment(Counter.NullsOrBlanks); utf8.clone() }
          else collector.slotFor(utf8)
        }
      i += 1
    }
    answers
  }

  private def allKnown(answers: Array[AnyRef]): Boolean = {
    var i = 0
    while (i < answers.length) {
      answers(i) match {
        case slot: Slot if !slot.isAnswered => return false
        case _ =>
      }
      i += 1
    }
    true
  }

  private def enqueue(row: InternalRow, answers: Array[AnyRef]): Unit = {
    val copy = row.copy()
    val bytes = copy match {
      case unsafe: UnsafeRow => unsafe.getSizeInBytes.toLong
      case _ => 64L
    }
    buffer.add(new PendingRow(copy, answers, bytes))
    bufferedBytes += bytes
  }

  private def emit(row: InternalRow, answers: Array[AnyRef]): InternalRow = {
    var i = 0
    while (i < callCount) {
      results.update(i, answers(i) match {
        case slot: Slot => collectorOf(i).resultOf(slot)
        case other => other
      })
      i += 1
    }
    project(joined(row, results))
  }

  /** At task end, however it ends: stop this task's requests and hand its figures to Spark. */
  def close(): Unit = if (!closed) {
    closed = true
    stats.add(Counter.Rows, rows)
    collectors.foreach(_.cancelAll())
    buffer.clear()
  }
}

object BatchTokenizeIterator {
  /** The read-ahead buffer: enough rows for every invocation thread to have two batches. */
  def bufferLimits(runtime: TegridyRuntime): (Int, Long) = {
    val rows = math.max(1024L, math.min(200000L, 2L * runtime.conf.batchMaxRows * runtime.conf.maxInFlight)).toInt
    (rows, 64L * 1024 * 1024)
  }

  /** Distinct values remembered per task window before it is forgotten. */
  private val WindowCap = 100000

  private final class PendingRow(val row: InternalRow, val answers: Array[AnyRef], val bytes: Long)

  /**
   * One distinct value of this task's window. Rows that hold the same value hold the same slot;
   * `future` is answered by this task's batch or by another task's (single-flight).
   */
  final class Slot(val key: String) {
    var future: CompletableFuture[AnyRef] = _
    var sent: Boolean = false
    var result: UTF8String = _ // the answer, converted once for all rows that share the slot
    var failedAsNull: Boolean = false // onError=null and the value failed: NULL for every row
    def isAnswered: Boolean =
      result != null || failedAsNull || (future != null && future.isDone && !future.isCompletedExceptionally)
  }

  /** A value known before any request: NULL is handled by the caller; this is a cache hit. */
  private def answered(token: String): Slot = {
    val slot = new Slot(null)
    slot.result = UTF8String.fromString(token)
    slot
  }

  /** A value that fails before any request (invalid UTF-8, too large): its failure is its answer. */
  private def failWith(slot: Slot, failure: ValueFailure): Slot = {
    slot.future = CompletableFuture.completedFuture[AnyRef](failure)
    slot.sent = true
    slot
  }

  /**
   * Collects one (runtime, operation)'s distinct unanswered values into batches capped by rows
   * and bytes, and sends each on the runtime's invocation threads.
   */
  final class BatchCollector(val runtime: TegridyRuntime, operation: Operation, function: String, stats: TegridyStats) {
    private val conf = runtime.conf
    private val requestOverhead = operation.requestOverhead
    // Keyed by the raw bytes: a repeated value is found without decoding it to a String.
    private val window = new java.util.HashMap[UTF8String, Slot]()
    private val slots = mutable.ArrayBuffer[Slot]() // the batch being collected
    private val unsent = new java.util.HashSet[String]() // its keys, for lookups
    private var batchBytes = requestOverhead.toLong
    private val jobs = mutable.ArrayBuffer[BatchJob]()

    def slotFor(value: UTF8String): Slot = {
      val seen = window.get(value)
      if (seen != null) return seen
      // Bounded: forgetting only costs dedup, since the runtime's in-flight map still shares requests.
      if (window.size >= WindowCap) window.clear()
      stats.increment(Counter.DistinctValues)
      val slot =
        if (!value.isValid) failWith(new Slot(null), runtime.invalidUtf8)
        else {
          val key = value.toString
          val hit = runtime.cached(operation, key)
          if (hit != null) { stats.increment(Counter.CacheHits); answered(hit) } else claim(new Slot(key))
        }
      window.put(value.clone(), slot) // the row's bytes may be reused: keep a copy
      slot
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
      val tooLarge = runtime.tooLarge(operation, slot.key)
      if (tooLarge.isDefined) {
        // Alone too large for one invocation: fail it here, never send it.
        runtime.abandon(operation, IndexedSeq(slot.key), IndexedSeq(slot.future)) // frees the claim
        failWith(slot, tooLarge.get)
        return
      }
      val size = operation.itemOverhead + WireProtocol.jsonStringBytes(slot.key)
      if (batchBytes + size > conf.batchMaxBytes) flush()
      slots += slot
      unsent.add(slot.key)
      batchBytes += size
      if (slots.size >= conf.batchMaxRows) flush()
    }

    /** Sends the values collected so far, if any. */
    def flush(): Unit = if (slots.nonEmpty) {
      jobs += runtime.submit(operation, slots.map(_.key).toIndexedSeq, slots.map(_.future).toIndexedSeq, stats)
      slots.foreach(_.sent = true)
      slots.clear(); unsent.clear()
      batchBytes = requestOverhead.toLong
      if (jobs.size > 256) jobs.filterInPlace(!_.isDone)
    }

    /** The row's result for `slot`, waiting for its answer; asks again if its request was abandoned. */
    def resultOf(slot: Slot): UTF8String = {
      if (slot.failedAsNull) return null
      while (slot.result == null) {
        // Waiting on a batch of ours not yet sent: send it, even if not full.
        if (!slot.sent) flush()
        val answer = try slot.future.get() catch {
          case e: ExecutionException if e.getCause.isInstanceOf[AbandonedRequest] => null
          case e: ExecutionException => throw e.getCause
        }
        answer match {
          case null => claim(slot) // the task that was asking ended; ask ourselves
          case token: String => slot.result = UTF8String.fromString(token)
          case failure: ValueFailure =>
            // onError=fail throws here; onError=null gives NULL, counted once per value.
            runtime.onFailure(failure, function, stats)
            slot.failedAsNull = true
            return null
        }
      }
      slot.result
    }

    /** Window entries are only useful while rows that hold them wait. */
    def forgetWindow(): Unit = window.clear()

    def cancelAll(): Unit = {
      jobs.foreach(job => if (!job.isDone) job.cancel())
      jobs.clear()
      runtime.abandon(operation, slots.map(_.key).toIndexedSeq, slots.map(_.future).toIndexedSeq)
      slots.clear(); unsent.clear()
    }
  }
}
