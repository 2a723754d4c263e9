package com.tegridy.spark.runtime

import org.apache.spark.unsafe.Platform
import org.apache.spark.unsafe.array.ByteArrayMethods
import org.apache.spark.unsafe.types.UTF8String

/**
 * A task's window: value bytes -> the [[Slot]] that answers them, as an open-addressing table
 * (parallel arrays of hash, key offset and length, and slot; linear probing) whose keys' bytes
 * sit end to end in one array. The per-row lookup of the repeated path is a hash of the bytes, an
 * int compare and, on a match, one compare of contiguous bytes: no node, no key object to chase
 * (JFR: the key compare was the top frame while keys were UTF8String objects). Holds at most
 * `capacity` entries; the caller clears it when full.
 */
final class ValueWindow(val capacity: Int) {
  import ValueWindow._

  require(capacity > 0, s"a window holds at least one value, not $capacity")

  // Power-of-two table at most half full; starts small and doubles up to its bound.
  private val maxTableSize = Integer.highestOneBit(math.max(2, capacity) * 2 - 1) * 2
  private var hashes = new Array[Int](math.min(64, maxTableSize))
  private var offsets = new Array[Int](hashes.length)
  private var lengths = new Array[Int](hashes.length)
  private var slots = new Array[Slot](hashes.length) // null: an empty place
  // Where the entries sit, in insertion order: clearing and growing touch only these.
  private var used = new Array[Int](math.min(hashes.length / 2, capacity))
  private var count = 0
  private var keyBytes = new Array[Byte](InitialKeyBytes)
  private var keyBytesUsed = 0

  def size: Int = count
  def isFull: Boolean = count >= capacity

  /** The slot of `value`'s bytes, or null. */
  def get(value: UTF8String): Slot = {
    val hash = value.hashCode()
    val length = value.numBytes()
    val mask = hashes.length - 1
    var i = hash & mask
    while (slots(i) != null) {
      if (hashes(i) == hash && lengths(i) == length && ByteArrayMethods.arrayEquals(value.getBaseObject,
          value.getBaseOffset, keyBytes, Platform.BYTE_ARRAY_OFFSET + offsets(i), length)) return slots(i)
      i = (i + 1) & mask
    }
    null
  }

  /** Adds a value not in the window. Its bytes are copied: the row buffer they came from is reused. */
  def put(value: UTF8String, slot: Slot): Unit = {
    if (isFull) throw new IllegalStateException(s"the window is full ($capacity values): clear it first")
    if (slot == null) throw new IllegalArgumentException("a window entry needs a slot")
    if ((count + 1) * 2 > hashes.length) grow()
    val length = value.numBytes()
    if (keyBytesUsed.toLong + length > keyBytes.length) {
      val larger = new Array[Byte](math.max(keyBytesUsed + length, math.min(Int.MaxValue - 16L, 2L * keyBytes.length).toInt))
      System.arraycopy(keyBytes, 0, larger, 0, keyBytesUsed)
      keyBytes = larger
    }
    Platform.copyMemory(value.getBaseObject, value.getBaseOffset, keyBytes, Platform.BYTE_ARRAY_OFFSET + keyBytesUsed, length)
    insert(value.hashCode(), keyBytesUsed, length, slot)
    keyBytesUsed += length
  }

  def clear(): Unit = {
    var k = 0
    while (k < count) {
      slots(used(k)) = null
      k += 1
    }
    count = 0
    keyBytesUsed = 0
    if (keyBytes.length > RetainedKeyBytes) keyBytes = new Array[Byte](InitialKeyBytes) // a burst of long values
  }

  private def insert(hash: Int, offset: Int, length: Int, slot: Slot): Unit = {
    val mask = hashes.length - 1
    var i = hash & mask
    while (slots(i) != null) i = (i + 1) & mask
    hashes(i) = hash
    offsets(i) = offset
    lengths(i) = length
    slots(i) = slot
    used(count) = i
    count += 1
  }

  private def grow(): Unit = {
    val (oldHashes, oldOffsets, oldLengths, oldSlots, oldUsed, oldCount) = (hashes, offsets, lengths, slots, used, count)
    val size = math.min(maxTableSize, hashes.length * 2)
    hashes = new Array[Int](size)
    offsets = new Array[Int](size)
    lengths = new Array[Int](size)
    slots = new Array[Slot](size)
    used = new Array[Int](math.min(size / 2, capacity))
    count = 0
    var k = 0
    while (k < oldCount) {
      val i = oldUsed(k)
      insert(oldHashes(i), oldOffsets(i), oldLengths(i), oldSlots(i))
      k += 1
    }
  }
}

private object ValueWindow {
  val InitialKeyBytes = 4096
  /** Key storage above this, left by a burst of long values, is let go when the window is cleared. */
  val RetainedKeyBytes: Int = 16 * 1024 * 1024
}
