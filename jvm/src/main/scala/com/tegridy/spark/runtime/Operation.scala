package com.tegridy.spark.runtime

import com.tegridy.spark.client.WireProtocol

/**
 * The two things the service does; each has its own cache and in-flight map, and its own
 * request shape (whose per-request and per-item bytes size the batches).
 */
sealed abstract class Operation(val index: Int, val requestOverhead: Int, val itemOverhead: Int)

object Operation {
  case object Tokenize extends Operation(0, WireProtocol.TokenizeRequestOverhead, WireProtocol.TokenizeItemOverhead)
  case object Detokenize extends Operation(1, WireProtocol.DetokenizeRequestOverhead, WireProtocol.DetokenizeItemOverhead)
  val all: Seq[Operation] = Seq(Tokenize, Detokenize)
}

/** The request that was to answer a value was abandoned (its task ended); ask again. */
final class AbandonedRequest extends RuntimeException("the request for this value was abandoned by its task", null, false, false)
