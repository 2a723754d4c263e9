package com.tegridy.spark.client

/**
 * The two things the service does; each has its own cache and in-flight map, and its own request shape.
 * Serializable itself: on Scala 2.12 a case object whose superclass is not Serializable and takes
 * arguments cannot be deserialized on an executor ("no valid constructor").
 */
sealed abstract class Operation(val index: Int, val name: String) extends Serializable

object Operation {
  case object Tokenize extends Operation(0, "tokenize")
  case object Detokenize extends Operation(1, "detokenize")
  val all: Seq[Operation] = Seq(Tokenize, Detokenize)
}
