package com.tegridy.spark.errors

/**
 * The errors users see. Each says what went wrong and what to do; none ever holds a value that
 * passed through the functions (messages are built from counts, names and causes only).
 */
class TegridyConfigException(val key: String, problem: String)
  extends IllegalArgumentException(s"$key $problem")

/**
 * Values could not be (de)tokenized. `cause` names the reason class (e.g. "throttled beyond the
 * retry budget", "the service rejected the value"); `failedValues` how many values it hit.
 */
class TegridyTokenizationException(
    val function: String,
    val target: String,
    val reason: String,
    val failedValues: Long)
  extends RuntimeException(
    s"$function failed for $failedValues value(s) calling $target: $reason. " +
      "Set spark.tegridy.onError=null to return NULL for such values instead (they are counted in the 'errors' metric).")

/** The service answered in a way the protocol does not allow; never retried blindly. */
final class TegridyProtocolViolation(problem: String)
  extends RuntimeException(s"the tokenization service's response breaks the protocol: $problem")
