package com.tegridy.spark.config

import java.net.{InetAddress, URI}
import java.util.Locale

import scala.util.Try

import com.tegridy.spark.errors.TegridyConfigException

/**
 * Every `spark.tegridy.*` setting, parsed and validated once into one immutable object that is
 * passed down (expression -> runtime -> client). Equal settings give equal objects, which is what
 * lets all tasks of an executor share one runtime per configuration.
 */
final case class TegridyConf(
    functionName: String,
    region: Option[String],
    endpoint: Option[URI],
    batchMaxRows: Int,
    batchMaxBytes: Int,
    maxInFlight: Int,
    cacheMaxEntries: Long,
    timeoutMs: Int,
    retryMaxAttempts: Int,
    retryTotalTimeoutMs: Long,
    onError: OnError) {

  /** The endpoint is this machine: only then may fixed local credentials stand in. */
  def endpointIsLoopback: Boolean = endpoint.exists { uri =>
    Option(uri.getHost).exists { host =>
      Try(InetAddress.getAllByName(host.stripPrefix("[").stripSuffix("]")).forall(_.isLoopbackAddress))
        .getOrElse(false)
    }
  }

  /** Where calls go, for error messages: the endpoint override or the AWS region. */
  def describeTarget: String =
    s"Lambda function '$functionName' at ${endpoint.map(_.toString).getOrElse(s"AWS region ${region.getOrElse("(default)")}")}"
}

sealed abstract class OnError(val name: String)
object OnError {
  case object Fail extends OnError("fail")
  case object Null extends OnError("null")
  val all: Seq[OnError] = Seq(Fail, Null)
}

object TegridyConf {
  val Prefix = "spark.tegridy."

  // The keys of the public contract (docs/configuration.md lists them for users).
  val FunctionName = "spark.tegridy.lambda.functionName"
  val Region = "spark.tegridy.lambda.region"
  val Endpoint = "spark.tegridy.lambda.endpoint"
  val BatchMaxRows = "spark.tegridy.batch.maxRows"
  val BatchMaxBytes = "spark.tegridy.batch.maxBytes"
  val MaxInFlight = "spark.tegridy.maxInFlight"
  val CacheMaxEntries = "spark.tegridy.cache.maxEntries"
  val TimeoutMs = "spark.tegridy.timeoutMs"
  val RetryMaxAttempts = "spark.tegridy.retry.maxAttempts"
  val RetryTotalTimeoutMs = "spark.tegridy.retry.totalTimeoutMs"
  val OnErrorKey = "spark.tegridy.onError"

  /** Lambda's synchronous request limit; a batch may never exceed it whatever maxBytes says. */
  val LambdaPayloadLimitBytes: Int = 6 * 1024 * 1024

  val knownKeys: Set[String] = Set(FunctionName, Region, Endpoint, BatchMaxRows, BatchMaxBytes, MaxInFlight,
    CacheMaxEntries, TimeoutMs, RetryMaxAttempts, RetryTotalTimeoutMs, OnErrorKey)

  /** Parses the `spark.tegridy.*` entries of `settings`; other keys are ignored. */
  def from(settings: Map[String, String]): TegridyConf = {
    val tegridy = settings.filter { case (key, _) => key.startsWith(Prefix) }
    val unknown = tegridy.keySet -- knownKeys
    if (unknown.nonEmpty) {
      throw new TegridyConfigException(unknown.toSeq.sorted.head,
        s"is not a Tegridy setting; known settings are ${knownKeys.toSeq.sorted.mkString(", ")}")
    }
    def get(key: String): Option[String] = tegridy.get(key).map(_.trim).filter(_.nonEmpty)

    val functionName = get(FunctionName).getOrElse(throw new TegridyConfigException(FunctionName,
      "is not set: set it to the tokenization Lambda's name or ARN (SparkSession.builder.config(...), " +
        "--conf on spark-submit, or tegridy_tokens.configure_spark(builder, function_name=...))"))

    TegridyConf(
      functionName = functionName,
      region = get(Region),
      endpoint = get(Endpoint).map(parseEndpoint),
      batchMaxRows = intIn(get(BatchMaxRows), BatchMaxRows, 500, 1, 100000),
      batchMaxBytes = intIn(get(BatchMaxBytes), BatchMaxBytes, 5 * 1024 * 1024, 1024, LambdaPayloadLimitBytes),
      maxInFlight = intIn(get(MaxInFlight), MaxInFlight, 16, 1, 1024),
      cacheMaxEntries = longIn(get(CacheMaxEntries), CacheMaxEntries, 100000L, 0L, 1000000000L),
      timeoutMs = intIn(get(TimeoutMs), TimeoutMs, 30000, 100, 900000),
      retryMaxAttempts = intIn(get(RetryMaxAttempts), RetryMaxAttempts, 8, 1, 100),
      retryTotalTimeoutMs = longIn(get(RetryTotalTimeoutMs), RetryTotalTimeoutMs, 300000L, 0L, 86400000L),
      onError = get(OnErrorKey).map(_.toLowerCase(Locale.ROOT)) match {
        case None => OnError.Fail
        case Some(value) => OnError.all.find(_.name == value).getOrElse(
          throw new TegridyConfigException(OnErrorKey, s"must be one of ${OnError.all.map(_.name).mkString(", ")}"))
      })
  }

  private def parseEndpoint(text: String): URI = {
    val uri = Try(new URI(text)).getOrElse(null)
    if (uri == null || !Set("http", "https").contains(Option(uri.getScheme).getOrElse("")) || uri.getHost == null) {
      throw new TegridyConfigException(Endpoint, "must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:9001")
    }
    uri
  }

  private def longIn(value: Option[String], key: String, default: Long, min: Long, max: Long): Long =
    value match {
      case None => default
      case Some(text) =>
        val parsed = Try(text.replace("_", "").toLong).getOrElse(
          throw new TegridyConfigException(key, s"must be a whole number between $min and $max"))
        if (parsed < min || parsed > max) {
          throw new TegridyConfigException(key, s"must be between $min and $max, got $parsed")
        }
        parsed
    }

  private def intIn(value: Option[String], key: String, default: Int, min: Int, max: Int): Int =
    longIn(value, key, default.toLong, min.toLong, max.toLong).toInt
}
