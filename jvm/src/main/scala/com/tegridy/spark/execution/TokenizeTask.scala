package com.tegridy.spark.execution

import scala.collection.mutable

import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.{Expression, UnsafeRow}
import org.apache.spark.sql.catalyst.util.ArrayData
import org.apache.spark.tegridy.SparkInternals
import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.client.Operation
import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.expressions.TegridyStringFunction
import com.tegridy.spark.metrics.TegridyStats
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.runtime.{BatchCollector, Slot, TegridyRuntime}

/**
 * What BatchTokenizeExec needs of one token function call, without the call itself: the plan
 * keeps only the call's argument as an expression (whole-stage codegen refuses a plan that holds
 * a CodegenFallback expression, and the call is never evaluated as one here).
 */
final case class TokenCall(conf: TegridyConf, operation: Operation, function: String, overArray: Boolean,
    perRowErrors: Boolean, redactsDenied: Boolean) {
  // Settings stay out of EXPLAIN and the Spark UI.
  override def toString: String = function
}

object TokenCall {
  /** The argument a call evaluates, and what to do with it (None: the value passes through as is). */
  def split(call: Expression): (Expression, Option[TokenCall]) = call match {
    case f: TegridyStringFunction =>
      (f.child, Some(TokenCall(f.conf, f.operation, f.prettyName, f.overArray, f.perRowErrors, f.redactsDenied)))
    case other => (other, None) // a call the optimizer rewrote into something else, e.g. a NULL literal
  }
}

/**
 * One task of BatchTokenizeExec, whichever path drives it (the generated code of whole-stage
 * codegen, or [[BatchTokenizeIterator]]): the current row's answers, the FIFO of rows that wait
 * for theirs, and the task's runtimes and collectors.
 *
 * Per row: [[beginRow]], [[lookUp]] each call's argument (through its [[BatchCollector]], which
 * answers at once what it can: NULL, blank, the window, the executor cache). If [[passes]], the
 * row goes out as it is, with [[result]]s: no copy. Otherwise it is copied into the FIFO
 * ([[enqueue]]) and goes out, in order, when [[nextWaiting]] hands it back. The FIFO is bounded
 * in rows and bytes; once full, the head is waited for (back-pressure). Under a LIMIT
 * (`rowLimit`) the bound starts at the limit and grows 4x each time the FIFO empties, as Spark's
 * limitScaleUpFactor does, so `LIMIT 10` sends about 10 values, not thousands.
 *
 * A waiting row's input file (what `input_file_name()` reads) is saved when it is queued and put
 * in place while it goes out; [[restoreInputFile]] puts the scan's back before it reads on.
 */
final class TokenizeTask(functions: Seq[Option[TokenCall]], stats: TegridyStats, rowLimit: Option[Int]) {
  import TokenizeTask._

  private val callCount = functions.length
  private val overArray = functions.map(_.exists(_.overArray)).toArray
  private val perRowErrors = functions.map(_.exists(_.perRowErrors)).toArray
  // safe_detokenize shares detokenize's collector (same batches); only reading its answer differs.
  private val redactDenied = functions.map(_.exists(_.redactsDenied)).toArray

  // Leased for the task; one collector per (runtime, operation): calls with the same settings share batches.
  private val leases = mutable.LinkedHashMap[TegridyConf, TegridyRuntime]()
  private val collectorOf: Array[BatchCollector] = {
    val byKey = mutable.LinkedHashMap[(TegridyRuntime, Operation), BatchCollector]()
    functions.map {
      case Some(call) =>
        val runtime = leases.getOrElseUpdate(call.conf, TegridyRuntime.acquire(call.conf))
        byKey.getOrElseUpdate((runtime, call.operation), new BatchCollector(runtime, call.operation, call.function, stats))
      case None => null
    }.toArray
  }
  private val collectors: Seq[BatchCollector] = collectorOf.filter(_ != null).distinct.toSeq

  private val (rowCap, byteCap) = collectors.headOption.map(c => bufferLimits(c.runtime)).getOrElse((1, Long.MaxValue))
  private var readAhead = rowLimit.map(n => math.max(1, math.min(n, rowCap))).getOrElse(rowCap)
  private val waiting = new java.util.ArrayDeque[WaitingRow]()
  private var waitingBytes = 0L

  // The scan's input file, while a waiting row's is in its place.
  private var liveFile: AnyRef = _
  private var fileOverridden = false

  /** One entry per call: a [[Slot]], an array of them (NULL array: null), or a plain value. */
  private var current = new Array[AnyRef](callCount)
  private var currentAnswered = true
  private var rows = 0L // counted here, added to `stats` at close: no atomic operation per row
  private var rowsWaited = 0L
  private var closed = false

  def beginRow(): Unit = {
    rows += 1
    currentAnswered = true
  }

  /** The current row's argument of call `call` (NULL allowed) through the lookup pipeline. */
  def lookUp(call: Int, value: AnyRef): Unit = {
    val collector = collectorOf(call)
    val answer: AnyRef =
      if (collector == null) value match {
        case null => null
        case utf8: UTF8String => utf8.clone() // may point into a row buffer that is reused
        case other => InternalRow.copyValue(other).asInstanceOf[AnyRef]
      }
      else if (overArray(call)) value match {
        case null => null
        case array: ArrayData =>
          val slots = new Array[Slot](array.numElements())
          var k = 0
          while (k < slots.length) {
            slots(k) = collector.lookUp(if (array.isNullAt(k)) null else array.getUTF8String(k))
            k += 1
          }
          slots
      }
      else collector.lookUp(value.asInstanceOf[UTF8String])
    current(call) = answer
    if (currentAnswered && !isAnswered(answer)) currentAnswered = false
  }

  /** The current row may go out now: no row waits before it and its answers are here. */
  def passes: Boolean = currentAnswered && waiting.isEmpty

  /** Call `call`'s result for the current row (the one looked up, or the one [[nextWaiting]] gave). */
  def result(call: Int): AnyRef = current(call) match {
    case slot: Slot if perRowErrors(call) => collectorOf(call).outcomeOf(slot)
    case slot: Slot => collectorOf(call).resultOf(slot, redactDenied(call))
    case slots: Array[Slot] => collectorOf(call).resultsOf(slots, redactDenied(call))
    case other => other
  }

  /** The current row waits for its answers (or behind rows that do): a copy joins the FIFO. */
  def enqueue(row: InternalRow): Unit = {
    val copy = row.copy()
    val bytes = copy match {
      case unsafe: UnsafeRow => unsafe.getSizeInBytes.toLong
      case _ => 64L
    }
    waiting.add(new WaitingRow(copy, current, bytes, SparkInternals.inputFileBlockCell().get()))
    waitingBytes += bytes
    rowsWaited += 1
    current = new Array[AnyRef](callCount)
  }

  /** The FIFO is at its bound: its head must be waited for before more rows are read. */
  def isFull: Boolean = waiting.size >= readAhead || waitingBytes >= byteCap

  def hasWaiting: Boolean = !waiting.isEmpty

  /**
   * The head of the FIFO, made the current row with its input file in place, when it may go out:
   * its answers are here, or the FIFO is full, or the input has ended (its results then wait).
   * Null when it may not (the scan's input file is then back in place).
   */
  def nextWaiting(inputEnded: Boolean): InternalRow = {
    val head = waiting.peek()
    val pressed = head != null && (inputEnded || isFull)
    if (head == null || !(pressed || allAnswered(head.answers))) {
      restoreInputFile()
      return null
    }
    waiting.poll()
    waitingBytes -= head.bytes
    if (waiting.isEmpty) {
      // (The window is kept: it is also the cheapest way to the token of a value seen before.)
      // The consumer took all we read while we were waiting: read further. (A FIFO emptied by
      // answers arriving says nothing of what the consumer wants: a LIMIT keeps its bound.)
      if (pressed) readAhead = math.min(rowCap, readAhead * 4)
    }
    current = head.answers
    val cell = SparkInternals.inputFileBlockCell()
    if (head.file ne cell.get()) {
      if (!fileOverridden) liveFile = cell.get()
      cell.set(head.file)
      fileOverridden = true
    }
    head.row
  }

  /** Puts the scan's input file back, before it reads on. */
  def restoreInputFile(): Unit = if (fileOverridden) {
    // The scan may have replaced its thread-local cell meanwhile: look it up again rather than keep it.
    SparkInternals.inputFileBlockCell().set(liveFile)
    fileOverridden = false
    liveFile = null
  }

  /** At task end, however it ends: stop this task's requests and give back its runtimes. */
  def close(): Unit = if (!closed) {
    closed = true
    stats.add(Counter.Rows, rows)
    stats.add(Counter.RowsWaited, rowsWaited)
    try collectors.foreach(_.cancelAll())
    finally {
      waiting.clear()
      leases.values.foreach(TegridyRuntime.release)
    }
  }

  private def allAnswered(answers: Array[AnyRef]): Boolean = {
    var i = 0
    while (i < answers.length) {
      if (!isAnswered(answers(i))) return false
      i += 1
    }
    true
  }

  private def isAnswered(answer: AnyRef): Boolean = answer match {
    case slot: Slot => slot.isAnswered
    case slots: Array[Slot] =>
      var k = 0
      while (k < slots.length) {
        if (!slots(k).isAnswered) return false
        k += 1
      }
      true
    case _ => true
  }
}

object TokenizeTask {
  /** The FIFO's bounds: enough rows for every invocation thread to have two batches. */
  def bufferLimits(runtime: TegridyRuntime): (Int, Long) = {
    val rows = math.max(1024L, math.min(200000L, 2L * runtime.conf.batchMaxRows * runtime.conf.maxInFlight)).toInt
    (rows, 64L * 1024 * 1024)
  }

  private final class WaitingRow(val row: InternalRow, val answers: Array[AnyRef], val bytes: Long, val file: AnyRef)
}
