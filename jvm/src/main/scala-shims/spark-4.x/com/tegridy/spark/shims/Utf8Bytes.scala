package com.tegridy.spark.shims

import org.apache.spark.unsafe.types.UTF8String

/** Reading a UTF8String's bytes in place: public in Spark 4 (Spark 3.5: spark-3.5 shim). */
object Utf8Bytes {
  @inline def byteAt(value: UTF8String, i: Int): Byte = value.getByte(i)
  @inline def isValid(value: UTF8String): Boolean = value.isValid
}
