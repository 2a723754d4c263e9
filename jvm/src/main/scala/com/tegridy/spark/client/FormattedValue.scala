package com.tegridy.spark.client

/**
 * A value and its token format, as one lookup key. The pipeline (window, cache, single-flight,
 * batches) treats keys as opaque strings, so the same value under two formats is two keys and
 * is never answered with the other's token; only the wire protocol looks inside. A value with
 * the default format is its own key, which keeps the default wire bytes the seeds'.
 */
object FormattedValue {
  val Default = "default"
  /** The formats the reference service knows (python/tegridy_tokens/service/formats.py). */
  val Known: Seq[String] = Seq(Default, "ssn", "credit_card", "phone", "email")

  private val Mark = '\u0000' // no real value starts with NUL followed by a format name and NUL

  def encode(format: String, value: String): String =
    if (format == Default) value else s"$Mark$format$Mark$value"

  /** (format, value); the format is None for a default-format key. */
  def decode(key: String): (Option[String], String) =
    if (key.isEmpty || key.charAt(0) != Mark) (None, key)
    else {
      val end = key.indexOf(Mark, 1)
      if (end < 0) (None, key) else (Some(key.substring(1, end)), key.substring(end + 1))
    }
}
