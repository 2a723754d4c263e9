package com.tegridy.spark.runtime

import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.shims.Utf8Bytes

/** Blank = empty or whitespace only (Unicode whitespace included); never sent to the service. */
object BlankValues {
  def isBlank(value: UTF8String): Boolean = {
    // Reads the bytes in place: getBytes would copy a string that lives inside a row.
    val length = value.numBytes
    var i = 0
    var asciiOnly = true
    while (i < length) {
      val b = Utf8Bytes.byteAt(value, i)
      if (b < 0) asciiOnly = false
      else if (!(b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == 0x0b || b == '\f' || (b >= 0x1c && b <= 0x1f))) return false
      i += 1
    }
    asciiOnly || isBlank(value.toString)
  }

  def isBlank(value: String): Boolean = value.codePoints().allMatch(c => Character.isWhitespace(c) || Character.isSpaceChar(c))
}
