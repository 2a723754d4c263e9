package org.apache.spark.tegridy

import java.util.concurrent.atomic.AtomicReference

import org.apache.spark.rdd.InputFileBlockHolder

/**
 * The task thread's input-file block cell (see SparkInternals), through Spark 4's
 * `getThreadLocalValue` (Spark 3.5 has no accessor: spark-3.5 shim).
 */
private[tegridy] object InputFileBlockCell {
  def current(): AtomicReference[AnyRef] =
    InputFileBlockHolder.getThreadLocalValue().asInstanceOf[AtomicReference[AnyRef]]
}
