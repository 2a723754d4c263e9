package com.tegridy.spark.runtime

import org.apache.spark.unsafe.types.UTF8String

/**
 * A task's window: value bytes -> the [[Slot]] that answers them, as an open-addressing table
 * (parallel arrays of hash, key and slot, linear probing). The per-row lookup of the repeated
 * path is a hash of the bytes, an int compare and, on a hash match, one byte compare: no node,
 * no boxed key. Holds at most `capacity` entries; the caller clears it when full.
 */
final class ValueWindow(val capacity: Int) {
  require(capacity > 0, s"a window holds at least one value, not $capacity")

  // Power-of-two table at most half full; starts small and doubles up to its bound.
  private val maxTableSize = Integer.highestOneBit(math.max(2, capacity) * 2 - 1) * 2
  private var hashes = new Array[Int](math.min(64, maxTableSize))
  private var keys = new Array[UTF8String](hashes.length)
  private var slots = new Array[Slot](hashes.length)
  // Where the entries sit, in insertion order: clearing and growing touch only these.
  private var used = new Array[Int](math.min(hashes.length / 2, capacity))
  private var count = 0

  def size: Int = count
  def isFull: Boolean = count >= capacity

  /** The slot of `value`'s bytes, or null. */
  def get(value: UTF8String): Slot = {
    val hash = value.hashCode()
    val mask = hashes.length - 1
    var i = hash & mask
    while (keys(i) != null) {
      if (hashes(i) == hash && keys(i).equals(value)) return slots(i)
      i = (i + 1) & mask
    }
    null
  }

  /** Adds a value not in the window. Its bytes are copied (clone() may share them): the row buffer is reused. */
  def put(value: UTF8String, slot: Slot): Unit = {
    if (isFull) throw new IllegalStateException(s"the window is full ($capacity values): clear it first")
    if ((count + 1) * 2 > hashes.length) grow()
    insert(value.hashCode(), value.copy(), slot)
  }

  def clear(): Unit = {
    var k = 0
    while (k < count) {
      val i = used(k)
      keys(i) = null
      slots(i) = null
      k += 1
    }
    count = 0
  }

  private def insert(hash: Int, key: UTF8String, slot: Slot): Unit = {
    val mask = hashes.length - 1
    var i = hash & mask
    while (keys(i) != null) i = (i + 1) & mask
    hashes(i) = hash
    keys(i) = key
    slots(i) = slot
    used(count) = i
    count += 1
  }

  private def grow(): Unit = {
    val (oldHashes, oldKeys, oldSlots, oldUsed, oldCount) = (hashes, keys, slots, used, count)
    val size = math.min(maxTableSize, hashes.length * 2)
    hashes = new Array[Int](size)
    keys = new Array[UTF8String](size)
    slots = new Array[Slot](size)
    used = new Array[Int](math.min(size / 2, capacity))
    count = 0
    var k = 0
    while (k < oldCount) {
      val i = oldUsed(k)
      insert(oldHashes(i), oldKeys(i), oldSlots(i))
      k += 1
    }
  }
}
