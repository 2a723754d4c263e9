package com.tegridy.spark.execution

import scala.collection.mutable

import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions._
import org.apache.spark.sql.catalyst.util.ArrayData
import org.apache.spark.tegridy.SparkInternals
import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.client.Operation
import com.tegridy.spark.expressions.TegridyStringFunction
import com.tegridy.spark.metrics.TegridyStats
import com.tegridy.spark.runtime.{BatchCollector, Slot, TegridyRuntime}

/**
 * One partition through BatchTokenizeExec: rows in, the same rows out in the same order, each
 * joined with its calls' results.
 *
 * Each row's arguments (a value, or an array's elements) go through the lookup pipeline of
 * their [[BatchCollector]] at once, which answers at once what it can (NULL, blank, the
 * executor cache, another row of this task) and batches the rest.
 *
 * Rows wait in a FIFO buffer bounded in rows and bytes. When it is full, or the input ends, the
 * head row's batch is sent even if not full and the task waits for it: back-pressure, never the
 * whole partition in memory. While the buffer is empty, a row whose answers are all known at
 * once is emitted without being copied (the repeated-values fast path).
 *
 * Two things keep read-ahead from changing what a query sees or sends:
 *  - under a LIMIT (`rowLimit`) the buffer starts at the limit and grows 4x per round, as
 *    Spark's own limitScaleUpFactor does, so `LIMIT 10` sends about 10 values, not thousands;
 *  - each buffered row's input file (what `input_file_name()` and friends read) is saved when
 *    it is read and put back when it is emitted.
 */
final class BatchTokenizeIterator(
    input: Iterator[InternalRow],
    calls: Seq[Expression],
    childOutput: Seq[Attribute],
    output: Seq[Attribute],
    stats: TegridyStats,
    rowLimit: Option[Int]) extends Iterator[InternalRow] {

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
  private val overArray: Array[Boolean] = calls.map {
    case call: TegridyStringFunction => call.overArray
    case _ => false
  }.toArray
  private val perRowErrors: Array[Boolean] = calls.map {
    case call: TegridyStringFunction => call.perRowErrors
    case _ => false
  }.toArray

  // Leased for the task; one collector per (runtime, operation): calls with the same settings share batches.
  private val leases = mutable.LinkedHashMap[com.tegridy.spark.config.TegridyConf, TegridyRuntime]()
  private val collectorOf: Array[BatchCollector] = {
    val byKey = mutable.LinkedHashMap[(TegridyRuntime, Operation), BatchCollector]()
    calls.map {
      case call: TegridyStringFunction =>
        val runtime = leases.getOrElseUpdate(call.conf, TegridyRuntime.acquire(call.conf))
        byKey.getOrElseUpdate((runtime, call.operation), new BatchCollector(runtime, call.operation, call.prettyName, stats))
      case _ => null
    }.toArray
  }
  private val collectors: Seq[BatchCollector] = collectorOf.filter(_ != null).distinct.toSeq
  // safe_detokenize shares detokenize's collector (same batches); only reading its answer differs.
  private val redactDenied: Array[Boolean] = calls.map {
    case call: TegridyStringFunction => call.redactsDenied
    case _ => false
  }.toArray

  private val (rowCap, byteCap) = collectors.headOption.map(c => bufferLimits(c.runtime)).getOrElse((1, Long.MaxValue))
  private var readAhead = rowLimit.map(n => math.max(1, math.min(n, rowCap))).getOrElse(rowCap)
  private val buffer = new java.util.ArrayDeque[PendingRow]()
  private var bufferedBytes = 0L

  // The scan's current input file, and whether we put an older one in its place.
  private var liveFile: AnyRef = SparkInternals.inputFileBlockCell().get()
  private var fileOverridden = false

  private val results = new GenericInternalRow(callCount)
  private val joined = new JoinedRow()
  private val project = UnsafeProjection.create(output, output)
  private var closed = false
  private var rows = 0L // counted here, added to `stats` at close: no atomic operation per row

  override def hasNext: Boolean = !buffer.isEmpty || inputHasNext

  override def next(): InternalRow = {
    if (buffer.isEmpty) {
      if (!inputHasNext) throw new NoSuchElementException
      val row = readRow()
      val answers = lookUp(row)
      if (allKnown(answers)) return emit(row, answers) // nothing to wait for: no copy, no buffer
      enqueue(row, answers)
    }
    // Let batches fill while the head waits: read ahead up to the buffer's bounds.
    while (buffer.size < readAhead && bufferedBytes < byteCap && inputHasNext) {
      val next = readRow()
      enqueue(next, lookUp(next))
    }
    val head = buffer.poll()
    bufferedBytes -= head.bytes
    if (buffer.isEmpty) {
      collectors.foreach(_.forgetWindow()) // every slot is answered by now
      readAhead = math.min(rowCap, readAhead * 4) // the consumer wants more than we read: read further
    }
    if (head.file ne liveFile) {
      SparkInternals.inputFileBlockCell().set(head.file)
      fileOverridden = true
    }
    emit(head.row, head.answers)
  }

  private def inputHasNext: Boolean = {
    restoreLiveFile()
    val has = input.hasNext
    liveFile = SparkInternals.inputFileBlockCell().get()
    has
  }

  private def readRow(): InternalRow = {
    restoreLiveFile()
    val row = input.next()
    liveFile = SparkInternals.inputFileBlockCell().get()
    row
  }

  // The scan may have reset its thread-local cell meanwhile: look it up again rather than keep it.
  private def restoreLiveFile(): Unit = if (fileOverridden) {
    SparkInternals.inputFileBlockCell().set(liveFile)
    fileOverridden = false
  }

  /** One entry per call: a [[Slot]], an array of them (NULL array: null), or a plain value. */
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
          case other => InternalRow.copyValue(other).asInstanceOf[AnyRef]
        }
        else if (overArray(i)) value match {
          case null => null
          case array: ArrayData =>
            Array.tabulate(array.numElements())(k => collector.lookUp(if (array.isNullAt(k)) null else array.getUTF8String(k)))
        }
        else collector.lookUp(value.asInstanceOf[UTF8String])
      i += 1
    }
    answers
  }

  private def allKnown(answers: Array[AnyRef]): Boolean = {
    var i = 0
    while (i < answers.length) {
      answers(i) match {
        case slot: Slot if !slot.isAnswered => return false
        case slots: Array[Slot] if !slots.forall(_.isAnswered) => return false
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
    buffer.add(new PendingRow(copy, answers, bytes, liveFile))
    bufferedBytes += bytes
  }

  private def emit(row: InternalRow, answers: Array[AnyRef]): InternalRow = {
    var i = 0
    while (i < callCount) {
      results.update(i, answers(i) match {
        case slot: Slot if perRowErrors(i) => collectorOf(i).outcomeOf(slot)
        case slot: Slot => collectorOf(i).resultOf(slot, redactDenied(i))
        case slots: Array[Slot] => collectorOf(i).resultsOf(slots, redactDenied(i))
        case other => other
      })
      i += 1
    }
    project(joined(row, results))
  }

  /** At task end, however it ends: stop this task's requests and give back its runtimes. */
  def close(): Unit = if (!closed) {
    closed = true
    stats.add(com.tegridy.spark.metrics.TegridyStats.Counter.Rows, rows)
    collectors.foreach(_.cancelAll())
    buffer.clear()
    leases.values.foreach(TegridyRuntime.release)
  }
}

object BatchTokenizeIterator {
  /** The read-ahead buffer: enough rows for every invocation thread to have two batches. */
  def bufferLimits(runtime: TegridyRuntime): (Int, Long) = {
    val rows = math.max(1024L, math.min(200000L, 2L * runtime.conf.batchMaxRows * runtime.conf.maxInFlight)).toInt
    (rows, 64L * 1024 * 1024)
  }

  private final class PendingRow(val row: InternalRow, val answers: Array[AnyRef], val bytes: Long, val file: AnyRef)
}
