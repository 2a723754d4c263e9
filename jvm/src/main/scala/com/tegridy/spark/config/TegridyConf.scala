package com.tegridy.spark.config

import java.net.{InetAddress, URI}

import scala.util.Try

import org.apache.spark.sql.internal.SQLConf

import com.tegridy.spark.client.Operation
import com.tegridy.spark.config.Settings.Setting
import com.tegridy.spark.errors.TegridyConfigException

/**
 * Every `spark.tegridy.*` setting, parsed and validated into one immutable object that is passed
 * down (expression -> runtime -> client). `claimedRole` is not a setting: the role label of a
 * safe_detokenize call, sent with its requests for the audit; a distinct role gets its own
 * runtime, so that each request carries the label of the calls it answers. It is parsed once per function call, when the query
 * is analysed; equal settings give equal objects, which is what lets all tasks of an executor
 * share one runtime per configuration. The keys, defaults and ranges are in [[Settings]].
 */
final case class TegridyConf(
    functionName: String,
    detokenizeFunctionName: Option[String],
    region: Option[String],
    endpoint: Option[URI],
    batchMaxRows: Int,
    batchMaxBytes: Int,
    maxInFlight: Int,
    cacheMaxEntries: Long,
    timeoutMs: Int,
    retryMaxAttempts: Int,
    retryTotalTimeoutMs: Long,
    retryItemAttempts: Int,
    onError: OnError,
    piiTypes: Seq[String] = Settings.PiiTypes.default.get,
    claimedRole: Option[String] = None,
    protocol: WireFormat = WireFormat.Tegridy,
    caller: Option[RedshiftCaller] = None,
    redshiftVerify: RedshiftVerify = RedshiftVerify.Off,
    redshiftExternalFunction: Option[String] = None,
    scope: String = Settings.DefaultScope) {

  /** protocol=redshift with verify=sample: each tokenize reply is checked by detokenizing a sample of it. */
  def verifiesSample: Boolean = protocol == WireFormat.Redshift && redshiftVerify == RedshiftVerify.Sample

  /** The scope the requests name: None for the default scope, whose requests keep the seeds' bytes. */
  def requestScope: Option[String] = if (scope == Settings.DefaultScope) None else Some(scope)

  /**
   * These settings for a call that names its own scope (a constant), checked as the setting is;
   * Redshift's JSON has no place for a scope, so a scope other than the default needs protocol=tegridy.
   */
  def withScope(name: String): TegridyConf = {
    val checked = Settings.scopeName(name).fold(problem => throw new TegridyConfigException(Settings.Scope.key, problem), identity)
    copy(scope = checked).checkScope()
  }

  private[config] def checkScope(): TegridyConf = {
    if (scope != Settings.DefaultScope && protocol == WireFormat.Redshift) {
      throw new TegridyConfigException(Settings.Scope.key, s"is '$scope', but protocol=redshift has no place for a " +
        "scope: Redshift's Lambda-UDF JSON tokenizes in the default scope only. Use protocol=tegridy for scoped tokens")
    }
    this
  }

  /** The endpoint is this machine: only then may fixed local credentials stand in. */
  def endpointIsLoopback: Boolean = endpoint.exists { uri =>
    Option(uri.getHost).exists { host =>
      Try(InetAddress.getAllByName(host.stripPrefix("[").stripSuffix("]")).forall(_.isLoopbackAddress))
        .getOrElse(false)
    }
  }

  /**
   * The function an operation's calls go to: detokenize has its own, so that who may detokenize
   * is decided by who may invoke that function (IAM), not by who may tokenize.
   */
  def functionFor(operation: Operation): String = operation match {
    case Operation.Tokenize => functionName
    case Operation.Detokenize => detokenizeFunctionName.getOrElse(throw TegridyConf.detokenizeOff("detokenize"))
  }

  /** Where calls go, for error messages: the endpoint override or the AWS region. */
  def describeTarget: String = describeTarget(Operation.Tokenize)

  def describeTarget(operation: Operation): String = {
    val function = if (operation == Operation.Detokenize) detokenizeFunctionName.getOrElse("(none)") else functionName
    s"Lambda function '$function' at ${endpoint.map(_.toString).getOrElse(s"AWS region ${region.getOrElse("(default)")}")}"
  }
}

/**
 * A setting's value that is one of a few names (`choice` in Settings). Serializable: it travels to
 * executors inside TegridyConf, and on Scala 2.12 an abstract base must be for its case objects
 * to deserialize (see Operation).
 */
abstract class NamedChoice(val name: String) extends Serializable {
  override def toString: String = name
}

/** The JSON the client speaks (`spark.tegridy.protocol`; both are in docs/protocols.md). */
sealed abstract class WireFormat(name: String) extends NamedChoice(name)
object WireFormat {
  case object Tegridy extends WireFormat("tegridy")
  case object Redshift extends WireFormat("redshift")
  val all: Seq[WireFormat] = Seq(Tegridy, Redshift)
}

/** `spark.tegridy.redshift.verify`: whether a Redshift tokenize reply is checked by detokenizing a sample. */
sealed abstract class RedshiftVerify(name: String) extends NamedChoice(name)
object RedshiftVerify {
  case object Off extends RedshiftVerify("off")
  case object Sample extends RedshiftVerify("sample")
  val all: Seq[RedshiftVerify] = Seq(Off, Sample)
}

sealed abstract class OnError(name: String) extends NamedChoice(name)
object OnError {
  case object Fail extends OnError("fail")
  case object Null extends OnError("null")
  val all: Seq[OnError] = Seq(Fail, Null)
}

object TegridyConf {
  val Prefix: String = Settings.Prefix

  /** Detokenize is off until a function is named for it: the error every detokenize function gives. */
  def detokenizeOff(function: String): TegridyConfigException =
    new TegridyConfigException(Settings.DetokenizeFunctionName.key, s"is not set, so detokenize is not enabled for " +
      s"this session and $function cannot be used. Set it to the Lambda function that serves detokenize (the local " +
      "service's is 'tegridy-tokens-detokenize'; a single function that does both: the same name as " +
      s"${Settings.FunctionName.key}), e.g. tegridy_tokens.configure_spark(builder, " +
      s"${Settings.DetokenizeFunctionName.python}=...), and make sure your role may invoke it")

  /**
   * The settings in force for the query being analysed (a view's captured ones, inside a view);
   * under protocol=redshift also who is asking (application, user, database), which only the
   * driver knows, captured here once so that every request of the query carries it.
   */
  def forSession(): TegridyConf = {
    val conf = from(SQLConf.get.getAllConfs.filter { case (key, _) => key.startsWith(Prefix) })
    if (conf.protocol == WireFormat.Redshift) conf.copy(caller = Some(RedshiftCaller.ofActiveSession())) else conf
  }

  /** Parses the `spark.tegridy.*` entries of `settings`; other keys are ignored. */
  def from(settings: Map[String, String]): TegridyConf = {
    val tegridy = settings.filter { case (key, _) => key.startsWith(Prefix) }
    (tegridy.keySet -- Settings.knownKeys).toSeq.sorted.headOption.foreach { unknown =>
      val hint = Settings.closest(unknown).map(key => s"did you mean $key? ").getOrElse("")
      throw new TegridyConfigException(unknown,
        s"is not a Tegridy setting; ${hint}known settings are ${Settings.knownKeys.toSeq.sorted.mkString(", ")}")
    }
    def optional[T](setting: Setting[T]): Option[T] =
      tegridy.get(setting.key).map(_.trim).filter(_.nonEmpty).map { text =>
        setting.parse(text).fold(problem => throw new TegridyConfigException(setting.key, problem), identity)
      }
    def value[T](setting: Setting[T]): T = optional(setting).orElse(setting.default).getOrElse(
      throw new TegridyConfigException(setting.key, "is not set: set it to the tokenization Lambda's name or ARN " +
        "(SparkSession.builder.config(...), --conf on spark-submit, or tegridy_tokens.configure_spark(builder, " +
        s"${setting.python}=...))"))

    val protocol = value(Settings.ProtocolSetting)
    val verify = value(Settings.RedshiftVerifySetting)
    if (verify == RedshiftVerify.Sample && protocol == WireFormat.Redshift && optional(Settings.DetokenizeFunctionName).isEmpty) {
      throw new TegridyConfigException(Settings.RedshiftVerifySetting.key, "is sample, which checks each batch's tokens " +
        s"through the detokenize function, but ${Settings.DetokenizeFunctionName.key} is not set: set it (and let " +
        "this job invoke it), or set redshift.verify to off")
    }
    TegridyConf(
      functionName = value(Settings.FunctionName),
      detokenizeFunctionName = optional(Settings.DetokenizeFunctionName),
      region = optional(Settings.Region),
      endpoint = optional(Settings.Endpoint),
      // Redshift sends as many rows as fit in its 5 MB, so an existing Redshift function expects that.
      batchMaxRows = optional(Settings.BatchMaxRows).getOrElse(
        if (protocol == WireFormat.Redshift) RedshiftCaller.UnlimitedRows else Settings.BatchMaxRows.default.get),
      batchMaxBytes = value(Settings.BatchMaxBytes),
      maxInFlight = value(Settings.MaxInFlight),
      cacheMaxEntries = value(Settings.CacheMaxEntries),
      timeoutMs = value(Settings.TimeoutMs),
      retryMaxAttempts = value(Settings.RetryMaxAttempts),
      retryTotalTimeoutMs = value(Settings.RetryTotalTimeoutMs),
      retryItemAttempts = value(Settings.RetryItemAttempts),
      onError = value(Settings.OnErrorSetting),
      piiTypes = value(Settings.PiiTypes),
      protocol = protocol,
      redshiftVerify = verify,
      redshiftExternalFunction = optional(Settings.RedshiftExternalFunction),
      scope = value(Settings.Scope)).checkScope()
  }
}
