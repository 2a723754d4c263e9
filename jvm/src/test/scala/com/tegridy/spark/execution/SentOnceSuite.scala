package com.tegridy.spark.execution

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.testing.LocalSparkSession

/**
 * Within one task a value is sent once even when the executor cache is full of earlier jobs'
 * tokens and its admission policy refuses new ones: the task's window remembers what it asked.
 * (Across tasks of one executor it is the cache that remembers, and a full W-TinyLFU cache
 * refuses a new job's working set: 4 tasks here send about 13,800 values for 5,000, issue 15.)
 */
class SentOnceSuite extends AnyFunSuite with LocalSparkSession {
  test("one task sends each value once with a cache already full of other tokens") {
    withConf("spark.tegridy.cache.maxEntries" -> "1000", "spark.tegridy.batch.maxRows" -> "100") {
      // Earlier jobs fill the cache with their own tokens, several times over.
      (1 to 3).foreach(i => spark.sql(s"SELECT tegridy_tokenize_hp(concat('earlier$i-', id)) FROM range(0, 5000, 1, 1)").collect())
      lambda.reset()
      // 5,000 distinct values, each seen 12 times, far apart (wider than the read-ahead buffer).
      val rows = spark.sql("SELECT tegridy_tokenize_hp(concat('w', id % 5000)) AS t FROM range(0, 60000, 1, 1)").collect()
      assert(rows.length == 60000)
      val sent = lambda.sentValues.size
      info(s"$sent values sent for 5,000 distinct")
      assert(sent <= 1.05 * 5000, s"$sent values sent for 5,000 distinct")
    }
  }
}
