package com.tegridy.spark.shims

import org.apache.spark.sql.catalyst.expressions.NullIntolerant

/**
 * Spark 3.5's way to say "NULL in, NULL out" (the optimizer then infers IsNotNull filters): the
 * `NullIntolerant` marker trait, which Spark 4 replaced by `def nullIntolerant` (spark-4.x shim).
 */
trait NullIntolerantShim extends NullIntolerant
