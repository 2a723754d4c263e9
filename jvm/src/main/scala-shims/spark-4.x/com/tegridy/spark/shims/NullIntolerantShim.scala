package com.tegridy.spark.shims

import org.apache.spark.sql.catalyst.expressions.Expression

/**
 * Spark 4's way to say "NULL in, NULL out" (the optimizer then infers IsNotNull filters): the
 * `nullIntolerant` def, which replaced Spark 3.5's `NullIntolerant` marker trait (spark-3.5 shim).
 */
trait NullIntolerantShim extends Expression {
  override def nullIntolerant: Boolean = true
}
