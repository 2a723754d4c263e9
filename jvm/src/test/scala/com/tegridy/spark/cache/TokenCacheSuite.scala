package com.tegridy.spark.cache

import java.util.concurrent.{Callable, Executors, TimeUnit}

import org.scalatest.funsuite.AnyFunSuite

/** The two-tier token cache: a new working set is admitted, frequent values survive a scan, the bound holds. */
class TokenCacheSuite extends AnyFunSuite {
  private def token(key: String): String = s"T($key)"

  private def cache(maxEntries: Long): TokenCache = TokenCache.create(maxEntries).get

  /** Earlier jobs' tokens, each looked up a second time (as repeats across their tasks would), then more. */
  private def fill(c: TokenCache, prefix: String, count: Int): Unit =
    (0 until count).foreach { i =>
      val key = s"$prefix$i"
      if (c.get(key) == null) c.put(key, token(key))
      if (i % 2 == 0) c.get(key)
    }

  test("0 turns the cache off; the split adds up to the bound") {
    assert(TokenCache.create(0).isEmpty)
    Seq(1L, 2L, 3L, 4L, 1000L, 100001L).foreach { n =>
      val c = cache(n)
      assert(c.recentCapacity + c.mainCapacity == n && c.recentCapacity >= 1 && c.recentCapacity >= 3 * n / 4, s"maxEntries $n")
    }
    val single = cache(1)
    single.put("a", token("a"))
    assert(single.get("a") == token("a"))
  }

  test("a cache full of earlier jobs' tokens admits a new job's working set") {
    val c = cache(10000)
    (1 to 3).foreach(job => fill(c, s"earlier$job-", 30000))
    val workingSet = (0 until 7000).map(i => s"new$i")
    workingSet.foreach(k => c.put(k, token(k)))
    val kept = workingSet.count(k => c.get(k) == token(k))
    assert(kept == workingSet.size, s"$kept of ${workingSet.size} kept")
  }

  test("values read again survive a stream of one-off values, and the total bound holds") {
    val c = cache(4000)
    val frequent = (0 until 1000).map(i => s"hot$i")
    frequent.foreach(k => c.put(k, token(k)))
    (0 until 200000).foreach { i =>
      val key = s"once$i"
      c.put(key, token(key))
      if (i % 50 == 0) frequent.foreach(c.get) // the frequent values are used throughout
    }
    c.cleanUp()
    // A plain FIFO of 4,000 would keep none of them; Caffeine's frequency filter is probabilistic.
    val kept = frequent.count(k => c.get(k) == token(k))
    info(s"$kept of ${frequent.size} frequent values kept")
    assert(kept >= 0.95 * frequent.size, s"$kept of ${frequent.size} frequent values kept")
    assert(c.size <= 4000, s"${c.size} entries for a bound of 4000")
  }

  test("frequent values that stop being read for a while are kept by the main tier") {
    val c = cache(4000)
    val frequent = (0 until 500).map(i => s"hot$i")
    frequent.foreach(k => c.put(k, token(k)))
    (1 to 3).foreach(_ => frequent.foreach(c.get))
    (0 until 50000).foreach(i => c.put(s"once$i", token(s"once$i"))) // a scan far longer than the recency tier
    c.cleanUp()
    // An LRU or FIFO of 4,000 would keep none of them.
    val kept = frequent.count(k => c.get(k) == token(k))
    info(s"$kept of ${frequent.size} frequent values kept")
    assert(kept >= 0.9 * frequent.size, s"$kept of ${frequent.size} frequent values kept")
  }

  test("concurrent readers and writers: answers stay right and the bound holds") {
    val c = cache(2000)
    val threads = 8
    val pool = Executors.newFixedThreadPool(threads)
    try {
      val wrong = (0 until threads).map { t =>
        pool.submit(new Callable[Int] {
          def call(): Int = {
            var bad = 0
            val random = new java.util.Random(t)
            var i = 0
            while (i < 200000) {
              val key = s"k${random.nextInt(6000)}"
              val hit = c.get(key)
              if (hit == null) c.put(key, token(key)) else if (hit != token(key)) bad += 1
              i += 1
            }
            bad
          }
        })
      }.map(_.get(120, TimeUnit.SECONDS)).sum
      assert(wrong == 0)
    } finally pool.shutdownNow()
    c.cleanUp()
    assert(c.size <= 2000 && c.size > 0, s"${c.size} entries for a bound of 2000")
  }
}
