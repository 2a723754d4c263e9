package com.tegridy.spark.client

/**
 * What a value gets from the service, typed: its token (or, for detokenize, its value), a
 * failure, or, inside the runtime only, word that the request that was to answer it was
 * abandoned by its task and must be asked again.
 */
sealed trait Answer

object Answer {
  final case class Token(text: String) extends Answer
  final case class Failed(failure: Failure) extends Answer
  case object Abandoned extends Answer
}

/**
 * Why a value has no answer; `count` is how many values the same failure hit. Neither field
 * ever holds a value.
 */
sealed trait Failure {
  def reason: String
  def count: Int
}

/** The service refused this value (or it could not be sent): `spark.tegridy.onError` decides. */
final case class ValueFailure(reason: String, count: Int) extends Failure

/**
 * The service or the setup failed (unreachable, 404, 403, no credentials, retries exhausted):
 * the query always fails, whatever `onError` says, because a NULL here would hide an outage.
 * `accessDenied`: the caller may not invoke the function (final; `safe_detokenize` redacts it).
 */
final case class ServiceFailure(reason: String, count: Int, accessDenied: Boolean = false) extends Failure
