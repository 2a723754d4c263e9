package com.tegridy.spark.client

/**
 * A value that could not be (de)tokenized. `reason` names the cause and `batchSize` how many
 * values the same failure hit; neither holds a value.
 */
final case class ValueFailure(reason: String, batchSize: Int)
