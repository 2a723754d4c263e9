package com.tegridy.spark.cache

import java.util.concurrent.ConcurrentHashMap

/**
 * The recency tier of [[TokenCache]]: the newest `capacity` answers, first in first out. Every
 * new answer is admitted and stays until `capacity` newer ones have arrived, so a job's working
 * set is kept whatever earlier jobs left behind. An entry pushed out goes back to the caller,
 * marked if it was read meanwhile, for the main tier to judge.
 *
 * Reads take no lock (a map lookup and, on an entry's first read, one volatile write); inserts
 * take this tier's lock, once per answer, far rarer than reads. The ring grows by doubling up to
 * `capacity`, so a large setting costs heap only as it fills.
 */
private[cache] final class RecentTier(capacity: Int) {
  import RecentTier.Entry

  require(capacity > 0, "the recency tier holds at least one entry")

  private val entries = new ConcurrentHashMap[String, Entry]()
  // Guarded by this: the entries in arrival order, how many, and the oldest one's slot once full.
  private var ring = new Array[Entry](math.min(capacity, 16))
  private var filled = 0
  private var oldest = 0

  /** The token, or null; marks the entry read. */
  def get(key: String): String = {
    val entry = entries.get(key)
    if (entry == null) null
    else {
      if (!entry.read) entry.read = true // written once, not per read: no cache-line ping-pong between readers
      entry.token
    }
  }

  /** Admits `key`; returns the oldest entry if it had to make room (null otherwise, or if `key` was already here). */
  def put(key: String, token: String): Entry = synchronized {
    if (entries.containsKey(key)) return null // the service is convergent: the token is the same
    val entry = new Entry(key, token)
    var pushedOut: Entry = null
    if (filled < capacity) {
      if (filled == ring.length) ring = java.util.Arrays.copyOf(ring, math.min(capacity.toLong, ring.length * 2L).toInt)
      ring(filled) = entry
      filled += 1
    } else {
      pushedOut = ring(oldest)
      entries.remove(pushedOut.key, pushedOut)
      ring(oldest) = entry
      oldest = (oldest + 1) % capacity
    }
    entries.put(key, entry)
    pushedOut
  }

  def size: Int = entries.size

  def clear(): Unit = synchronized {
    entries.clear()
    ring = new Array[Entry](math.min(capacity, 16))
    filled = 0
    oldest = 0
  }
}

private[cache] object RecentTier {
  final class Entry(val key: String, val token: String) {
    /** Read since it was admitted: used again, not a one-hit wonder. */
    @volatile var read: Boolean = false
  }
}
