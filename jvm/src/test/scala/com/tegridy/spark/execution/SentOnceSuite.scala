package com.tegridy.spark.execution

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.testing.LocalSparkSession

/**
 * No value is sent twice, even when the executor cache is full of earlier jobs' tokens: within
 * one task the task's window remembers what it asked; across the tasks of a job it is the cache,
 * whose recency tier admits the job's working set (cache/TokenCache; Caffeine's W-TinyLFU alone
 * refused it: 4 tasks sent about 13,800 values for 5,000, issue 15). With codegen on and off.
 */
class SentOnceSuite extends AnyFunSuite with LocalSparkSession {
  private def earlierJobsFillTheCache(jobs: Int, distinct: Int): Unit =
    (1 to jobs).foreach { i =>
      spark.sql(s"SELECT tegridy_tokenize_hp(concat('earlier$i-', id % $distinct)) FROM range(0, ${2 * distinct}, 1, 4)").collect()
    }

  private def sentFor(query: String, rows: Int): Int = {
    lambda.reset()
    assert(spark.sql(query).collect().length == rows)
    lambda.sentValues.size
  }

  test("one task sends each value once with a cache already full of other tokens") {
    withConf("spark.tegridy.cache.maxEntries" -> "1000", "spark.tegridy.batch.maxRows" -> "100") {
      earlierJobsFillTheCache(jobs = 3, distinct = 5000)
      // 5,000 distinct values, each seen 12 times, far apart (wider than the read-ahead buffer).
      val sent = sentFor("SELECT tegridy_tokenize_hp(concat('w', id % 5000)) AS t FROM range(0, 60000, 1, 1)", 60000)
      info(s"$sent values sent for 5,000 distinct")
      assert(sent <= 1.05 * 5000, s"$sent values sent for 5,000 distinct")
    }
  }

  Seq("true", "false").foreach { codegen =>
    test(s"a job in several tasks sends each value once after other jobs filled the cache (codegen $codegen)") {
      withConf("spark.tegridy.cache.maxEntries" -> "20000", "spark.tegridy.batch.maxRows" -> "100",
          "spark.sql.codegen.wholeStage" -> codegen) {
        earlierJobsFillTheCache(jobs = 3, distinct = 20000)
        // 5,000 distinct values in 4 tasks, each task seeing every value 3 times.
        val sent = sentFor(s"SELECT tegridy_tokenize_hp(concat('job-$codegen-', id % 5000)) AS t FROM range(0, 60000, 1, 4)", 60000)
        info(s"$sent values sent for 5,000 distinct in 4 tasks")
        assert(sent >= 5000 && sent <= 1.05 * 5000, s"$sent values sent for 5,000 distinct in 4 tasks")
      }
    }
  }
}
