package com.tegridy.spark.config

import java.net.{URI, URISyntaxException}
import java.util.Locale

import scala.util.Try

/**
 * The one table of `spark.tegridy.*` settings: key, Python keyword, default, what is accepted and
 * one line of doc. The parser (TegridyConf.from), the known keys with their did-you-mean, the
 * registered Spark SQL confs (so views capture them) and the DESCRIBE FUNCTION text are all
 * derived from it; python/tegridy_tokens/settings.py and docs/configuration.md are held to it
 * by SettingsCatalogSuite.
 */
object Settings {

  /**
   * One setting. `parse` turns trimmed, non-empty text into the value or says what is accepted;
   * `default` is None for a required setting and for optional ones with no default.
   */
  final case class Setting[T](key: String, python: String, default: Option[T], defaultText: String,
      accepts: String, doc: String)(val parse: String => Either[String, T])

  val Prefix = "spark.tegridy."

  /** Lambda's synchronous request limit; a batch may never exceed it whatever maxBytes says. */
  val LambdaPayloadLimitBytes: Int = 6 * 1024 * 1024

  val FunctionName: Setting[String] = Setting[String]("spark.tegridy.lambda.functionName", "function_name", None,
    "required", "a name or ARN", "the tokenization Lambda's name or ARN")(Right(_))
  val DetokenizeFunctionName: Setting[String] = Setting[String]("spark.tegridy.lambda.detokenizeFunctionName",
    "detokenize_function_name", None, "none (detokenize off)", "a name or ARN",
    "the function detokenize calls go to; unset, every detokenize function fails at analysis")(Right(_))
  val Region: Setting[String] = Setting[String]("spark.tegridy.lambda.region", "region", None,
    "the SDK's default chain, else us-east-1", "an AWS region", "the AWS region of the function")(Right(_))
  val Endpoint: Setting[URI] = Setting[URI]("spark.tegridy.lambda.endpoint", "endpoint", None,
    "none (real AWS)", "http(s)://host[:port]", "endpoint override, e.g. http://127.0.0.1:9001 for the local service")(endpoint)
  val BatchMaxRows: Setting[Int] = int("spark.tegridy.batch.maxRows", "batch_max_rows", 500, 1, 100000,
    "values per invocation (unlimited under protocol=redshift unless set)")
  val BatchMaxBytes: Setting[Int] = int("spark.tegridy.batch.maxBytes", "batch_max_bytes", 5 * 1024 * 1024, 1024,
    LambdaPayloadLimitBytes, "serialized request bytes per invocation (5 MiB, Redshift's own limit too)")
  val MaxInFlight: Setting[Int] = int("spark.tegridy.maxInFlight", "max_in_flight", 16, 1, 1024,
    "concurrent invocations per executor and configuration")
  val CacheMaxEntries: Setting[Long] = long("spark.tegridy.cache.maxEntries", "cache_max_entries", 100000L, 0L,
    1000000000L, "tokens cached per executor and configuration (0 = off)")
  val TimeoutMs: Setting[Int] = int("spark.tegridy.timeoutMs", "timeout_ms", 30000, 100, 900000,
    "one invocation's timeout in milliseconds")
  val RetryMaxAttempts: Setting[Int] = int("spark.tegridy.retry.maxAttempts", "retry_max_attempts", 100, 1, 1000,
    "ceiling on the attempts per batch, split halves included; transport faults are retried until retry.totalTimeoutMs")
  val RetryTotalTimeoutMs: Setting[Long] = long("spark.tegridy.retry.totalTimeoutMs", "retry_total_timeout_ms",
    300000L, 0L, 86400000L, "time budget in milliseconds for all attempts of one batch")
  val RetryItemAttempts: Setting[Int] = int("spark.tegridy.retry.itemAttempts", "retry_item_attempts", 3, 1, 100,
    "attempts for a value the service failed without saying whether it is retryable")
  val OnErrorSetting: Setting[OnError] = choice("spark.tegridy.onError", "on_error", OnError.Fail, OnError.all,
    "fail the query, or return NULL, for a value the service refused (never for an outage)")

  val ProtocolSetting: Setting[WireFormat] = choice("spark.tegridy.protocol", "protocol", WireFormat.Tegridy, WireFormat.all,
    "the JSON the functions speak: tegridy's own, or Amazon Redshift's Lambda-UDF JSON (docs/protocols.md)")

  val RedshiftVerifySetting: Setting[RedshiftVerify] = choice("spark.tegridy.redshift.verify", "redshift_verify",
    RedshiftVerify.Off, RedshiftVerify.all, "protocol=redshift: sample, send a few answers of each reply back through " +
      "the other function and retry the batch on any mismatch, since a Redshift reply cannot be matched to its request " +
      "(docs/protocols.md)")

  val RedshiftExternalFunction: Setting[String] = Setting[String]("spark.tegridy.redshift.externalFunction",
    "redshift_external_function", None, "the Spark function called", "a function name",
    "the external_function Redshift-protocol requests carry, for a Lambda that dispatches on it")(Right(_))

  val PiiTypes: Setting[Seq[String]] = Setting[Seq[String]]("spark.tegridy.pii.types", "pii_types",
    Some(Seq("email", "ssn", "phone", "credit_card")), "email,ssn,phone,credit_card", "a comma-separated list",
    "the data types tokenize_pii tokenizes (with their format when they are one)") { text =>
    val types = text.split(',').map(_.trim.toLowerCase(Locale.ROOT)).filter(_.nonEmpty).toSeq
    if (types.isEmpty) Left("must name at least one data type, e.g. email,ssn") else Right(types)
  }

  /** The default scope: today's tokens (python/tegridy_tokens/service/scopes.py). */
  val DefaultScope = "default"
  private val ScopeName = "[a-z0-9][a-z0-9_-]{0,62}".r
  val ScopeRule = "a scope name: 1 to 63 lowercase letters, digits, '_' or '-', starting with a letter or digit"

  /** A scope name as given, or what is accepted. */
  def scopeName(text: String): Either[String, String] = text match {
    case ScopeName() => Right(text)
    case _ => Left(s"must be $ScopeRule")
  }

  val Scope: Setting[String] = Setting[String]("spark.tegridy.scope", "scope", Some(DefaultScope), DefaultScope,
    "a scope name", "the token scope: tokens of two scopes are unrelated, and each scope's detokenize authority is " +
      "its own (docs/security.md)")(scopeName)

  val all: Seq[Setting[_]] = Seq(FunctionName, DetokenizeFunctionName, Region, Endpoint, BatchMaxRows, BatchMaxBytes, MaxInFlight,
    CacheMaxEntries, TimeoutMs, RetryMaxAttempts, RetryTotalTimeoutMs, RetryItemAttempts, OnErrorSetting, ProtocolSetting, RedshiftVerifySetting,
    RedshiftExternalFunction, PiiTypes, Scope)

  val knownKeys: Set[String] = all.map(_.key).toSet

  /** The known key closest to a misspelt one, if one is close enough to be what was meant. */
  def closest(unknown: String): Option[String] = {
    val (best, distance) = all.map(s => s.key -> editDistance(unknown.toLowerCase(Locale.ROOT), s.key.toLowerCase(Locale.ROOT)))
      .minBy(_._2)
    if (distance <= math.max(3, best.length / 4)) Some(best) else None
  }

  /** Lines for DESCRIBE FUNCTION EXTENDED. */
  def describe: String = all.map(s => s"      ${s.key} (default ${s.defaultText}): ${s.doc}").mkString("\n")

  private def int(key: String, python: String, default: Int, min: Int, max: Int, doc: String): Setting[Int] =
    Setting[Int](key, python, Some(default), default.toString, s"$min – $max", doc)(text => whole(text, min, max).map(_.toInt))

  private def long(key: String, python: String, default: Long, min: Long, max: Long, doc: String): Setting[Long] =
    Setting[Long](key, python, Some(default), default.toString, s"$min – $max", doc)(text => whole(text, min, max))

  /** A setting that takes one of `all`, by name, in any case. */
  private def choice[T <: NamedChoice](key: String, python: String, default: T, all: Seq[T], doc: String): Setting[T] = {
    val names = all.map(_.name).mkString(", ")
    Setting[T](key, python, Some(default), default.name, names, doc) { text =>
      all.find(_.name == text.toLowerCase(Locale.ROOT)).toRight(s"must be one of $names")
    }
  }

  private def whole(text: String, min: Long, max: Long): Either[String, Long] =
    Try(text.replace("_", "").toLong).toOption match {
      case None => Left(s"must be a whole number between $min and $max")
      case Some(n) if n < min || n > max => Left(s"must be between $min and $max, got $n")
      case Some(n) => Right(n)
    }

  private def endpoint(text: String): Either[String, URI] = {
    val uri = try new URI(text) catch { case _: URISyntaxException => null }
    if (uri == null || !Set("http", "https").contains(Option(uri.getScheme).getOrElse("")) || uri.getHost == null)
      Left("must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:9001")
    else Right(uri)
  }

  private def editDistance(a: String, b: String): Int = {
    val previous = Array.tabulate(b.length + 1)(identity)
    for (i <- 1 to a.length) {
      var diagonal = previous(0)
      previous(0) = i
      for (j <- 1 to b.length) {
        val above = previous(j)
        previous(j) = math.min(math.min(previous(j) + 1, previous(j - 1) + 1), diagonal + (if (a(i - 1) == b(j - 1)) 0 else 1))
        diagonal = above
      }
    }
    previous(b.length)
  }
}
