package com.tegridy.spark.shims

import org.apache.spark.unsafe.types.UTF8String
import org.scalatest.funsuite.AnyFunSuite

/** Each line's Utf8Bytes shim (jvm/src/main/scala-shims/) behaves alike: this suite compiles and runs on every line. */
class ShimsSuite extends AnyFunSuite {
  private def bytes(b: Int*): UTF8String = UTF8String.fromBytes(b.map(_.toByte).toArray)

  test("Utf8Bytes reads each byte in place") {
    val value = UTF8String.fromString("aé€")
    assert((0 until value.numBytes).map(Utf8Bytes.byteAt(value, _)) == value.getBytes.toSeq)
  }

  test("Utf8Bytes.isValid accepts UTF-8 and refuses stray, truncated, overlong and surrogate sequences") {
    assert(Utf8Bytes.isValid(UTF8String.fromString("ünïcødé 例え 😀")))
    assert(Utf8Bytes.isValid(UTF8String.EMPTY_UTF8))
    Seq(bytes(0x80), bytes(0x61, 0xc3), bytes(0xc0, 0xaf), bytes(0xed, 0xa0, 0x80), bytes(0xff)).foreach { invalid =>
      assert(!Utf8Bytes.isValid(invalid), invalid.getBytes.map(b => f"${b & 0xff}%02x").mkString(" "))
    }
  }
}
