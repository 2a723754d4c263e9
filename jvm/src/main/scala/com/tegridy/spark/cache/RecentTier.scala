package com.tegridy.spark.cache

import java.util.concurrent.ConcurrentHashMap

/**
 * The recency tier of [[TokenCache]]: the newest answers, at most `capacity`, in a CLOCK ring
 * (FIFO with a second chance for entries read since the hand last passed them). Every new answer
 * is admitted, so a job's working set is kept whatever earlier jobs left behind.
 *
 * Reads take no lock (a map lookup and, on the first read since the hand passed, one volatile
 * byte written); inserts and evictions take this tier's lock, once per answer, which is far
 * rarer than reads. The ring grows by doubling up to `capacity`, so a large setting costs heap
 * only as it fills.
 */
private[cache] final class RecentTier(capacity: Int) {
  import RecentTier._

  require(capacity > 0, "the recency tier holds at least one entry")

  private val entries = new ConcurrentHashMap[String, Entry]()
  // Guarded by this: the ring of entries in insertion order, its fill and the clock hand.
  private var ring = new Array[Entry](math.min(capacity, 16))
  private var filled = 0
  private var hand = 0

  /** The token, or null; marks the entry read, so that the hand gives it a second chance. */
  def get(key: String): String = {
    val entry = entries.get(key)
    if (entry == null) null
    else {
      if (!entry.readSincePass) entry.readSincePass = true // written once per pass, not per read: no cache-line ping-pong
      entry.token
    }
  }

  /**
   * Admits `key`; returns the entry it pushed out (null if none, or if `key` was already here),
   * which the caller may hand to the main tier.
   */
  def put(key: String, token: String): Entry = synchronized {
    if (entries.containsKey(key)) return null // the service is convergent: the token is the same
    val entry = new Entry(key, token)
    var evicted: Entry = null
    if (filled < capacity) {
      if (filled == ring.length) ring = java.util.Arrays.copyOf(ring, math.min(capacity.toLong, ring.length * 2L).toInt)
      ring(filled) = entry
      filled += 1
    } else {
      while (ring(hand).readSincePass) {
        ring(hand).passedAfterRead()
        hand = (hand + 1) % capacity
      }
      evicted = ring(hand)
      entries.remove(evicted.key, evicted)
      ring(hand) = entry
      hand = (hand + 1) % capacity
    }
    entries.put(key, entry)
    evicted
  }

  def size: Int = entries.size

  def clear(): Unit = synchronized {
    entries.clear()
    ring = new Array[Entry](math.min(capacity, 16))
    filled = 0
    hand = 0
  }
}

private[cache] object RecentTier {
  final class Entry(val key: String, val token: String) {
    /** Set by readers; cleared by the clock hand, which spares the entry once for it. */
    @volatile var readSincePass: Boolean = false
    /** Clock passes during which it was read (at most 15, as Caffeine's counters): guarded by the tier. */
    private var passesRead: Byte = 0

    def passedAfterRead(): Unit = {
      readSincePass = false
      if (passesRead < 15) passesRead = (passesRead + 1).toByte
    }

    /** How often the entry showed it is used again: 0 for a one-hit wonder so far. */
    def timesRead: Int = passesRead + (if (readSincePass) 1 else 0)
  }
}
