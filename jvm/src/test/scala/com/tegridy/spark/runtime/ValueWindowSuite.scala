package com.tegridy.spark.runtime

import org.apache.spark.unsafe.types.UTF8String
import org.scalatest.funsuite.AnyFunSuite

/** The task window's open-addressing table: found by bytes, bounded, cleared, grown. */
class ValueWindowSuite extends AnyFunSuite {
  private def utf8(s: String): UTF8String = UTF8String.fromString(s)

  test("a value is found by its bytes, not by the object that held them") {
    val window = new ValueWindow(100)
    val slot = new Slot("k")
    window.put(utf8("alice@example.com"), slot)
    assert(window.get(utf8("alice@example.com")) eq slot)
    assert(window.get(utf8("alice@example.co")) == null)
    assert(window.get(utf8("")) == null)
    // A value inside a larger buffer (as in a row) is the same key.
    val bytes = "xxalice@example.comyy".getBytes("UTF-8")
    assert(window.get(UTF8String.fromBytes(bytes, 2, 17)) eq slot)
  }

  test("it keeps a copy of the key: the row buffer it came from may be reused") {
    val window = new ValueWindow(10)
    val buffer = "value-1".getBytes("UTF-8")
    val slot = new Slot("k")
    window.put(UTF8String.fromBytes(buffer), slot)
    buffer(6) = '2'.toByte
    assert(window.get(utf8("value-1")) eq slot)
    assert(window.get(utf8("value-2")) == null)
  }

  test("many values, with colliding hashes, grow the table and are all found") {
    val window = new ValueWindow(50000)
    val slots = (0 until 50000).map(i => new Slot(s"s$i"))
    slots.indices.foreach(i => window.put(utf8(s"v$i"), slots(i)))
    assert(window.size == 50000 && window.isFull)
    assert(slots.indices.forall(i => window.get(utf8(s"v$i")) eq slots(i)))
    assert(window.get(utf8("v50000")) == null)
    // "Aa" and "BB" share a Java String hash; different bytes still give different slots.
    val small = new ValueWindow(4)
    val (aa, bb) = (new Slot("a"), new Slot("b"))
    small.put(utf8("Aa"), aa)
    small.put(utf8("BB"), bb)
    assert((small.get(utf8("Aa")) eq aa) && (small.get(utf8("BB")) eq bb))
  }

  test("bounded: a full window refuses more until cleared, and clearing forgets everything") {
    val window = new ValueWindow(3)
    (1 to 3).foreach(i => window.put(utf8(s"v$i"), new Slot(s"$i")))
    assert(window.isFull)
    val refused = intercept[IllegalStateException](window.put(utf8("v4"), new Slot("4")))
    assert(refused.getMessage.contains("clear it first") && !refused.getMessage.contains("v4"))
    window.clear()
    assert(window.size == 0 && !window.isFull)
    assert((1 to 3).forall(i => window.get(utf8(s"v$i")) == null))
    val again = new Slot("again")
    window.put(utf8("v2"), again)
    assert(window.get(utf8("v2")) eq again)
  }

  test("cleared after growing, it forgets every entry it moved, and values of every length come back") {
    val window = new ValueWindow(10000)
    (0 until 5000).foreach(i => window.put(utf8(s"first-$i"), new Slot(s"$i"))) // grows the table several times
    window.clear()
    assert((0 until 5000).forall(i => window.get(utf8(s"first-$i")) == null))
    // Lengths 0 to 40 (keys are stored 8-aligned): each found by its own bytes, not its neighbour's.
    val values = (0 to 40).map(n => "x" * n) ++ (0 until 3000).map(i => s"second-$i")
    val slots = values.map(v => new Slot(v))
    values.zip(slots).foreach { case (v, slot) => window.put(utf8(v), slot) }
    assert(values.zip(slots).forall { case (v, slot) => window.get(utf8(v)) eq slot })
  }

  test("bounded in bytes too: a value that would pass 64 MB of keys is refused, and says so without the value") {
    val window = new ValueWindow(10)
    window.put(utf8("small"), new Slot("s"))
    val huge = UTF8String.fromBytes(Array.fill[Byte](64 * 1024 * 1024)('q'.toByte))
    assert(window.wouldHold(utf8("another")) && !window.wouldHold(huge))
    val refused = intercept[IllegalStateException](window.put(huge, new Slot("h")))
    assert(refused.getMessage.contains("64 MB") && !refused.getMessage.contains("qqq"))
    assert(window.get(utf8("small")) != null && window.size == 1)
  }

  test("a window must hold at least one value") {
    assert(intercept[IllegalArgumentException](new ValueWindow(0)).getMessage.contains("at least one"))
  }
}
