package com.tegridy.spark.runtime

import org.apache.spark.unsafe.Platform
import org.apache.spark.unsafe.array.ByteArrayMethods
import org.apache.spark.unsafe.types.UTF8String

/**
 * A task's window: value bytes -> the [[Slot]] that answers them, as an open-addressing table
 * (linear probing) over one array of keys laid end to end.
 *
 * The per-row lookup of the repeated path is what this is shaped for, and its cost is cache
 * misses, not instructions (JFR: with hash, offset, length and slot in four parallel arrays, each
 * lookup touched five scattered cache lines and `get` was a third of the task's samples). So a
 * table place is one `long`, the key's hash and where the key sits; the key is stored as
 * [length, entry number, bytes] so that the length check and the byte compare read one place;
 * the entry number finds the slot in a small array filled in insertion order. A hit reads the
 * table, the key and the slot: three places. Holds at most `capacity` entries and 64 MB of keys;
 * the caller clears it when full ([[isFull]], [[wouldHold]]).
 */
final class ValueWindow(val capacity: Int) {
  import ValueWindow._

  require(capacity > 0, s"a window holds at least one value, not $capacity")

  // Power-of-two table at most half full; starts small and doubles up to its bound.
  // A place: hash in the high 32 bits, the key's offset in `keys` + 1 in the low 32 (0: empty).
  private val maxTableSize = Integer.highestOneBit(math.max(2, capacity) * 2 - 1) * 2
  private var table = new Array[Long](math.min(64, maxTableSize))
  // By entry number (insertion order): its slot and its place in the table (clearing touches only these).
  private var slots = new Array[Slot](math.min(32, capacity))
  private var places = new Array[Int](slots.length)
  private var count = 0
  private var keys = new Array[Byte](InitialKeyBytes)
  private var keysUsed = 0

  def size: Int = count
  def isFull: Boolean = count >= capacity

  /** The slot of `value`'s bytes, or null. */
  def get(value: UTF8String): Slot = {
    val hash = value.hashCode()
    val length = value.numBytes()
    val mask = table.length - 1
    var i = hash & mask
    var place = table(i)
    while (place != 0L) {
      if ((place >>> 32).toInt == hash) {
        val at = Platform.BYTE_ARRAY_OFFSET + (place.toInt - 1)
        if (Platform.getInt(keys, at) == length &&
            ByteArrayMethods.arrayEquals(value.getBaseObject, value.getBaseOffset, keys, at + HeaderBytes, length))
          return slots(Platform.getInt(keys, at + 4))
      }
      i = (i + 1) & mask
      place = table(i)
    }
    null
  }

  /** Adds a value not in the window. Its bytes are copied: the row buffer they came from is reused. */
  def put(value: UTF8String, slot: Slot): Unit = {
    if (isFull) throw new IllegalStateException(s"the window is full ($capacity values): clear it first")
    if (slot == null) throw new IllegalArgumentException("a window entry needs a slot")
    if ((count + 1) * 2 > table.length) grow()
    if (count == slots.length) {
      val larger = math.min(capacity.toLong, 2L * slots.length).toInt
      slots = java.util.Arrays.copyOf(slots, larger)
      places = java.util.Arrays.copyOf(places, larger)
    }
    val length = value.numBytes()
    // Entries start 8-aligned, so the header's ints are aligned reads.
    val entryBytes = HeaderBytes + ((length + 7) & ~7)
    if (keysUsed.toLong + entryBytes > MaxKeyBytes) {
      throw new IllegalStateException(s"the window's keys would pass ${MaxKeyBytes >> 20} MB: clear it first")
    }
    if (keysUsed + entryBytes > keys.length) {
      val larger = new Array[Byte](math.max(keysUsed + entryBytes, math.min(MaxKeyBytes.toLong, 2L * keys.length).toInt))
      System.arraycopy(keys, 0, larger, 0, keysUsed)
      keys = larger
    }
    val at = Platform.BYTE_ARRAY_OFFSET + keysUsed
    Platform.putInt(keys, at, length)
    Platform.putInt(keys, at + 4, count)
    Platform.copyMemory(value.getBaseObject, value.getBaseOffset, keys, at + HeaderBytes, length)
    slots(count) = slot
    places(count) = insert((value.hashCode().toLong << 32) | (keysUsed + 1).toLong)
    count += 1
    keysUsed += entryBytes
  }

  /** Whether `value`'s bytes fit with the keys stored (the byte bound; the entry bound is [[isFull]]). */
  def wouldHold(value: UTF8String): Boolean = keysUsed.toLong + HeaderBytes + value.numBytes() + 7 <= MaxKeyBytes

  def clear(): Unit = {
    var k = 0
    while (k < count) {
      table(places(k)) = 0L
      slots(k) = null
      k += 1
    }
    count = 0
    keysUsed = 0
    if (keys.length > RetainedKeyBytes) keys = new Array[Byte](InitialKeyBytes) // a burst of long values
  }

  /** Places `entry` in the table; returns where. */
  private def insert(entry: Long): Int = {
    val mask = table.length - 1
    var i = (entry >>> 32).toInt & mask
    while (table(i) != 0L) i = (i + 1) & mask
    table(i) = entry
    i
  }

  private def grow(): Unit = {
    val old = table
    table = new Array[Long](math.min(maxTableSize, old.length * 2))
    var i = 0
    while (i < old.length) {
      val entry = old(i)
      if (entry != 0L) {
        val number = Platform.getInt(keys, Platform.BYTE_ARRAY_OFFSET + (entry.toInt - 1) + 4)
        places(number) = insert(entry)
      }
      i += 1
    }
  }
}

private object ValueWindow {
  /** Before a key's bytes: its length and its entry number. */
  val HeaderBytes = 8
  val InitialKeyBytes = 4096
  /** Key storage above this, left by a burst of long values, is let go when the window is cleared. */
  val RetainedKeyBytes: Int = 16 * 1024 * 1024
  /** The keys' bytes are bounded like the task's FIFO: a task holds at most this many per window. */
  val MaxKeyBytes: Int = 64 * 1024 * 1024
}
