package org.apache.spark.tegridy

import java.util.concurrent.atomic.AtomicReference

import org.apache.spark.rdd.InputFileBlockHolder

/**
 * The task thread's input-file block cell (see SparkInternals). Spark 3.5 keeps it in a private
 * thread-local with no accessor (4.0 added `getThreadLocalValue`: spark-4.x shim), so this reads
 * that field once by reflection.
 */
private[tegridy] object InputFileBlockCell {
  private lazy val threadLocal: InheritableThreadLocal[AnyRef] = {
    val field = InputFileBlockHolder.getClass.getDeclaredField("inputBlock")
    field.setAccessible(true)
    field.get(InputFileBlockHolder).asInstanceOf[InheritableThreadLocal[AnyRef]]
  }

  def current(): AtomicReference[AnyRef] = threadLocal.get().asInstanceOf[AtomicReference[AnyRef]]
}
