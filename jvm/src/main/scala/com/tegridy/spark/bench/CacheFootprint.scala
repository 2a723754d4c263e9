package com.tegridy.spark.bench

import com.tegridy.spark.cache.TokenCache

/**
 * Measures the heap the token cache (both tiers) costs per entry at a given size (benchmarks/run.py calls it
 * through py4j): entries of the shape the engine stores (a 20-30 character e-mail address and a
 * 47-character token), heap compared before and after with full GCs.
 */
object CacheFootprint {
  def measure(entries: Int): String = {
    val runtime = Runtime.getRuntime
    def used(): Long = {
      var i = 0
      while (i < 3) { System.gc(); Thread.sleep(100); i += 1 }
      runtime.totalMemory() - runtime.freeMemory()
    }
    val before = used()
    val cache = TokenCache.create(entries.toLong).get
    var ownBytes = 0L
    var i = 0
    while (i < entries) {
      val key = s"user$i@example.com"
      val token = "tgr_" + ("%043d".format(i))
      cache.put(key, token)
      ownBytes += stringBytes(key) + stringBytes(token)
      i += 1
    }
    cache.cleanUp()
    val after = used()
    val perEntry = (after - before).toDouble / entries
    val overhead = perEntry - ownBytes.toDouble / entries
    val size = cache.size
    s"""{"entries": $size, "heap_bytes_per_entry": ${math.round(perEntry)}, "own_bytes_per_entry": ${ownBytes / entries}, "overhead_bytes_per_entry": ${math.round(overhead)}}"""
  }

  /** A Latin-1 java.lang.String's own heap: 24-byte object plus its byte[] (16-byte header), 8-aligned. */
  private def stringBytes(s: String): Long = 24 + ((16 + s.length + 7) / 8) * 8
}
