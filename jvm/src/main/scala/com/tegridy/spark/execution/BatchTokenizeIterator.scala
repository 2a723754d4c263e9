package com.tegridy.spark.execution

import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions._

/**
 * One partition through BatchTokenizeExec when it runs outside whole-stage codegen
 * (`spark.sql.codegen.wholeStage=false`, or a plan Spark does not compile): rows in, the same
 * rows out in the same order, each joined with its calls' results.
 *
 * The [[TokenizeTask]] does the work; this pulls: a row whose answers are all known while no
 * row waits is emitted without being copied; otherwise rows are read ahead into the task's FIFO
 * up to its bound, so batches fill while the head waits, and the head is emitted when answered.
 */
final class BatchTokenizeIterator(
    input: Iterator[InternalRow],
    arguments: Seq[Expression],
    task: TokenizeTask,
    childOutput: Seq[Attribute],
    output: Seq[Attribute]) extends Iterator[InternalRow] {

  private val callCount = arguments.length
  // Every call's argument in one generated projection: interpreted eval of e.g. concat() cost
  // more per row than the lookup itself (JFR, docs/benchmarks.md).
  private val argumentTypes = arguments.map(_.dataType).toArray
  private val evaluate: MutableProjection = MutableProjection.create(arguments, childOutput)

  private val results = new GenericInternalRow(callCount)
  private val joined = new JoinedRow()
  private val project = UnsafeProjection.create(output, output)

  override def hasNext: Boolean = task.hasWaiting || inputHasNext

  override def next(): InternalRow = {
    if (!task.hasWaiting) {
      if (!inputHasNext) throw new NoSuchElementException
      val row = input.next()
      lookUp(row)
      if (task.passes) return emit(row) // nothing to wait for: no copy, no buffer
      task.enqueue(row)
    }
    // Let batches fill while the head waits: read ahead up to the FIFO's bounds. Only while it
    // waits: an answered head goes out first, so the FIFO empties once its answers are in and
    // rows pass without a copy again (reading ahead regardless kept it full to the task's end).
    var head = task.nextWaiting(inputEnded = false)
    while (head == null && inputHasNext) {
      val row = input.next()
      lookUp(row)
      task.enqueue(row)
      head = task.nextWaiting(inputEnded = false) // the head once answered, or once the FIFO is full
    }
    emit(if (head != null) head else task.nextWaiting(inputEnded = true))
  }

  private def inputHasNext: Boolean = {
    task.restoreInputFile() // the scan reads on with its own input file in place
    input.hasNext
  }

  private def lookUp(row: InternalRow): Unit = {
    task.beginRow()
    val values = evaluate(row)
    var i = 0
    while (i < callCount) {
      task.lookUp(i, if (values.isNullAt(i)) null else values.get(i, argumentTypes(i)).asInstanceOf[AnyRef])
      i += 1
    }
  }

  private def emit(row: InternalRow): InternalRow = {
    var i = 0
    while (i < callCount) {
      results.update(i, task.result(i))
      i += 1
    }
    project(joined(row, results))
  }
}
