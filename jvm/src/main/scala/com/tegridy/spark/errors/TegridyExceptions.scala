package com.tegridy.spark.errors

import com.tegridy.spark.client.{ServiceFailure, ValueFailure}

/**
 * The errors users see. Each says what went wrong and what to do; none ever holds a value that
 * passed through the functions (messages are built from counts, names and causes only).
 */
class TegridyConfigException(val key: String, problem: String)
  extends IllegalArgumentException(s"$key $problem")

/**
 * Values could not be (de)tokenized. `reason` names the cause; `failedValues` how many values it
 * hit; `serviceFault` tells a failure of the service or the setup (which `onError` never turns
 * into NULLs) from a value the service refused.
 */
class TegridyTokenizationException(
    val function: String,
    val target: String,
    val reason: String,
    val failedValues: Long,
    val serviceFault: Boolean,
    advice: String)
  extends RuntimeException(s"$function failed for $failedValues value(s) calling $target: $reason. $advice")

object TegridyTokenizationException {
  def valueFailed(function: String, target: String, failure: ValueFailure): TegridyTokenizationException =
    new TegridyTokenizationException(function, target, failure.reason, failure.count, serviceFault = false,
      "Set spark.tegridy.onError=null to return NULL for such values instead (they are counted in the 'errors' metric).")

  def accessDenied(function: String, target: String, failure: ServiceFailure): TegridyTokenizationException =
    new TegridyTokenizationException(function, target, failure.reason, failure.count, serviceFault = true,
      "The credentials of this Spark job may not invoke that function; it is not retried. Ask for " +
        "lambda:InvokeFunction on it (docs/security.md), or use safe_detokenize(token) to get '[REDACTED]' instead.")

  def serviceFailed(function: String, target: String, failure: ServiceFailure): TegridyTokenizationException =
    new TegridyTokenizationException(function, target, failure.reason, failure.count, serviceFault = true,
      "This is a failure of the service or of the setup, not of the values, so the query fails whatever " +
        "spark.tegridy.onError says: check the function name, region, endpoint, credentials and the function's " +
        "health, then run the query again.")
}

/** The service answered in a way the protocol does not allow; never retried blindly. */
final class TegridyProtocolViolation(problem: String)
  extends RuntimeException(s"the tokenization service's response breaks the protocol: $problem")
