package org.apache.spark.tegridy

import java.util.concurrent.atomic.AtomicReference

import org.apache.spark.SparkContext
import org.apache.spark.util.AccumulatorV2

/**
 * The two Spark internals this library needs, in the one place that may reach them (they are
 * `private[spark]`): keep this file small.
 */
object SparkInternals {
  /**
   * Registers an accumulator whose updates from failed tasks still reach the driver: the
   * retries and errors of a failed query are what a user needs to see to diagnose it.
   */
  def registerCountingFailedTasks(sc: SparkContext, accumulator: AccumulatorV2[_, _], name: String): Unit =
    accumulator.register(sc, Some(name), countFailedValues = true)

  /**
   * The task thread's current input-file block (what `input_file_name()` reads), as a cell whose
   * content can be saved and put back: an operator that reads ahead restores each row's block
   * when it emits the row.
   */
  def inputFileBlockCell(): AtomicReference[AnyRef] = InputFileBlockCell.current() // per line: scala-shims/
}
