package com.tegridy.spark.shims

import java.nio.ByteBuffer
import java.nio.charset.{CharacterCodingException, CodingErrorAction, StandardCharsets}

import org.apache.spark.unsafe.Platform
import org.apache.spark.unsafe.types.UTF8String

/**
 * Reading a UTF8String's bytes in place. Spark 3.5's `getByte` is private and it has no `isValid`
 * (both public in Spark 4: spark-4.x shim), so these read the memory and decode strictly.
 */
object Utf8Bytes {
  def byteAt(value: UTF8String, i: Int): Byte = Platform.getByte(value.getBaseObject, value.getBaseOffset + i)

  /** Well-formed UTF-8 (no stray, overlong or surrogate sequences), as Spark 4's `isValid`. */
  def isValid(value: UTF8String): Boolean =
    try {
      StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
        .decode(ByteBuffer.wrap(value.getBytes))
      true
    } catch { case _: CharacterCodingException => false }
}
