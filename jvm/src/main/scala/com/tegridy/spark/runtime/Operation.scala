package com.tegridy.spark.runtime

import com.tegridy.spark.client.WireProtocol

/**
 * The two things the service does; each has its own cache and in-flight map, and its own
 * request shape (whose per-request and per-item bytes size the batches).
 */
sealed abstract class Operation(val index: Int, val notFoundReason: String, val requestOverhead: Int, val itemOverhead: Int)

object Operation {
  case object Tokenize extends Operation(0, "the service rejected the value",
    WireProtocol.TokenizeRequestOverhead, WireProtocol.TokenizeItemOverhead)
  case object Detokenize extends Operation(1, "the token was not found in the vault",
    WireProtocol.DetokenizeRequestOverhead, WireProtocol.DetokenizeItemOverhead)
  val all: Seq[Operation] = Seq(Tokenize, Detokenize)
}

/**
 * A value that could not be (de)tokenized. `reason` names the cause and `batchSize` how many
 * values the same failure hit; neither holds a value.
 */
final case class ValueFailure(reason: String, batchSize: Int)

/** The request that was to answer a value was abandoned (its task ended); ask again. */
final class AbandonedRequest extends RuntimeException("the request for this value was abandoned by its task", null, false, false)
