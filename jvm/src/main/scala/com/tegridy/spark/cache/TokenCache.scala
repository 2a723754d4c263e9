package com.tegridy.spark.cache

import com.github.benmanes.caffeine.cache.{Cache, Caffeine}

/**
 * The executor's token cache for one operation: value -> token (or token -> value), at most
 * `cache.maxEntries` entries in two tiers. Safe because the service is convergent.
 *
 *  - The recency tier ([[RecentTier]], three quarters of the entries) admits every new answer
 *    and is read first. A job's working set stays there while the job uses it, even when earlier
 *    jobs have filled the cache: no value of a job is sent twice as long as its distinct values
 *    fit in three quarters of the cache. (A simulation of the zipf benchmark, 82K distinct values
 *    in 4 tasks after a fill: 1.31 values sent per distinct with half, 1.02 with three quarters.)
 *  - The main tier (Caffeine W-TinyLFU, the last quarter) keeps the values that are used again
 *    over time. It is offered what the recency tier pushes out: an entry that was read while it
 *    was recent (with its reads, roughly counted), or any entry while the main tier has room.
 *    Caffeine's frequency filter then decides; a stream of one-off values never reaches it once
 *    it is full, so it is scan-proof.
 *
 * Caffeine alone would refuse a new job's working set once it is full: its admission filter
 * prefers the incumbents to keys it has seen once (issue 15).
 */
final class TokenCache private (maxEntries: Long) {
  /** Three quarters of the bound, rounded up, is the recency tier; the rest is the main tier. */
  val recentCapacity: Int = math.min(maxEntries - maxEntries / 4, Int.MaxValue - 8L).toInt
  val mainCapacity: Long = maxEntries - recentCapacity

  private val recent = new RecentTier(recentCapacity)
  private val main: Cache[String, String] = Caffeine.newBuilder().maximumSize(mainCapacity).build[String, String]()

  /** The cached token, or null. */
  def get(key: String): String = {
    val token = recent.get(key)
    if (token != null) token else main.getIfPresent(key)
  }

  def put(key: String, token: String): Unit = {
    if (main.asMap().containsKey(key)) return // already kept; the token is the same
    val pushedOut = recent.put(key, token)
    if (pushedOut != null) {
      val timesRead = pushedOut.timesRead
      if (timesRead > 0 || main.estimatedSize() < mainCapacity) {
        main.put(pushedOut.key, pushedOut.token)
        // Replays its reads, so that Caffeine's frequency filter weighs it against its victim
        // as if it had been read there (it admits a candidate more frequent than the victim).
        var i = 0
        while (i < timesRead) { main.getIfPresent(pushedOut.key); i += 1 }
      }
    }
  }

  /** Entries held now (approximate while writes are under way). */
  def size: Long = recent.size + main.estimatedSize()

  /** Lets the main tier finish pending evictions (measurements and tests). */
  def cleanUp(): Unit = main.cleanUp()

  def clear(): Unit = {
    recent.clear()
    main.invalidateAll()
  }
}

object TokenCache {
  /** A cache of at most `maxEntries` entries; None when 0 (the cache is off). */
  def create(maxEntries: Long): Option[TokenCache] =
    if (maxEntries <= 0) None else Some(new TokenCache(maxEntries))
}
