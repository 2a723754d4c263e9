package com.tegridy.spark

import scala.annotation.nowarn

import org.apache.spark.sql.catalyst.{FunctionIdentifier, InternalRow}
import org.apache.spark.sql.catalyst.analysis.FunctionRegistry
import org.apache.spark.sql.catalyst.expressions.{AttributeReference, Expression, ExpressionInfo}
import org.apache.spark.sql.catalyst.plans.logical.{LocalRelation, LogicalPlan}
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.types.{DoubleType, LongType}

import com.tegridy.spark.config.{Settings, TegridyConf}
import com.tegridy.spark.expressions.{TegridyDetokenizeExpression, TegridySafeDetokenizeExpression, TegridyTokenizeExpression}
import com.tegridy.spark.metrics.TegridyAccumulator

/**
 * The one list of SQL functions this library adds, as users type them. Each builder reads the
 * `spark.tegridy.*` settings in force where the call is analysed (a view's captured settings,
 * inside a view), so a query carries the settings that were in force when it was written.
 */
object TegridyFunctions {
  final case class Definition(name: String, info: ExpressionInfo, builder: Seq[Expression] => Expression) {
    def identifier: FunctionIdentifier = FunctionIdentifier(name)
  }

  val all: Seq[Definition] = Seq(
    tokenize(TegridyTokenizeExpression.Name),
    tokenize("tegridy_tokenize"), // seed 001's name
    detokenize(TegridyDetokenizeExpression.Name),
    detokenize("tegridy_detokenize"),
    safeDetokenize)

  private def tokenize(name: String) = Definition(
    name,
    info(classOf[TegridyTokenizeExpression], name,
      usage = "_FUNC_(value) - Returns the token for `value` from the Tegridy Tokens service. " +
        "NULL gives NULL; an empty or whitespace-only value is returned unchanged. Both are never sent.",
      extended =
        """
          |    Arguments:
          |      * value - a STRING expression holding the value to tokenize (cast other types to STRING)
          |
          |    Examples:
          |      > SELECT _FUNC_(email) FROM customers;
          |       tgr_…
          |      > SELECT _FUNC_(NULL);
          |       NULL
          |
          |    Settings (docs/configuration.md):
          |""".stripMargin + Settings.describe + "\n"),
    children => TegridyTokenizeExpression(single(name, children), sessionConf(), sessionMetrics()))

  private def detokenize(name: String) = Definition(
    name,
    info(classOf[TegridyDetokenizeExpression], name,
      usage = "_FUNC_(token) - Returns the value behind `token` from the Tegridy Tokens service. " +
        "NULL gives NULL; an empty or whitespace-only token is returned unchanged. An unknown token is an " +
        "error (NULL under spark.tegridy.onError=null).",
      extended =
        """
          |    Arguments:
          |      * token - a STRING expression holding a token made by tegridy_tokenize_hp
          |
          |    Examples:
          |      > SELECT _FUNC_(email_token) FROM customers_tokenized;
          |       john.doe@email.com
          |
          |    Settings (docs/configuration.md):
          |""".stripMargin + Settings.describe + "\n"),
    children => TegridyDetokenizeExpression(single(name, children), detokenizeConf(name), sessionMetrics()))

  private def safeDetokenize = Definition(
    TegridySafeDetokenizeExpression.Name,
    info(classOf[TegridySafeDetokenizeExpression], TegridySafeDetokenizeExpression.Name,
      usage = "_FUNC_(token [, role]) - Returns the value behind `token`, or '[REDACTED]' when this job may not " +
        "invoke the detokenize function (access denied). Any other failure fails as tegridy_detokenize_hp does. " +
        "`role` is a constant label for the audit, marked as claimed: it grants nothing.",
      extended =
        """
          |    Arguments:
          |      * token - a STRING expression holding a token made by tegridy_tokenize_hp
          |      * role - optional constant STRING: who the caller says it is (audit only)
          |
          |    Examples:
          |      > SELECT _FUNC_(email_token, 'support') FROM customers_tokenized;
          |       [REDACTED]
          |
          |    Settings (docs/configuration.md):
          |""".stripMargin + Settings.describe + "\n"),
    children => {
      val name = TegridySafeDetokenizeExpression.Name
      val (token, role) = children match {
        case Seq(token) => (token, None)
        case Seq(token, role) if role.foldable && role.dataType.isInstanceOf[org.apache.spark.sql.types.StringType] =>
          val label = Option(role.eval()).map(_.toString)
          if (label.exists(l => l.length > 128 || l.exists(Character.isISOControl)))
            throw new IllegalArgumentException(s"$name's role must be a label of at most 128 characters, without control characters")
          (token, label)
        case Seq(_, _) => throw new IllegalArgumentException(s"$name's role must be a constant STRING, e.g. 'support'")
        case _ => throw new IllegalArgumentException(s"$name takes a token and an optional role, but got ${children.size} arguments")
      }
      TegridySafeDetokenizeExpression(token, role, detokenizeConf(name).copy(claimedRole = role), sessionMetrics())
    })

  /** The session's settings, or the error every detokenize function gives while detokenize is off. */
  private def detokenizeConf(function: String): TegridyConf = {
    val conf = sessionConf()
    if (conf.detokenizeFunctionName.isEmpty) throw TegridyConf.detokenizeOff(function)
    conf
  }

  // The 5-argument constructor keeps the free-form extended text; the 11-argument one validates a
  // layout that changes between Spark versions.
  @nowarn("cat=deprecation")
  private[spark] def info(cls: Class[_], name: String, usage: String, extended: String): ExpressionInfo =
    new ExpressionInfo(cls.getCanonicalName, null, name, usage, extended)

  private def single(name: String, children: Seq[Expression]): Expression = children match {
    case Seq(child) => child
    case _ => throw new IllegalArgumentException(
      s"$name takes exactly one argument (a STRING expression), but got ${children.size}")
  }

  /** The metrics accumulator of the session whose analyzer is building the call (driver side). */
  private def sessionMetrics(): TegridyAccumulator = TegridyAccumulator.forContext(SparkSession.active.sparkContext)

  /** The `spark.tegridy.*` settings where the call is being analysed. */
  private def sessionConf(): TegridyConf = TegridyConf.forSession()

  /**
   * Also registers the functions as built-ins of this JVM: Spark refuses a persistent view that
   * calls a function it counts as temporary, and it counts any function outside its built-in
   * registry as temporary, injected ones included.
   */
  def registerAsBuiltins(): Unit = all.foreach { function =>
    if (!FunctionRegistry.builtin.functionExists(function.identifier)) {
      FunctionRegistry.builtin.registerFunction(function.identifier, function.info, function.builder)
    }
  }

  /** `SELECT * FROM tegridy_metrics()`: the session's figures as one row, for SQL and Spark Connect clients. */
  object MetricsTable {
    val identifier: FunctionIdentifier = FunctionIdentifier("tegridy_metrics")
    val info: ExpressionInfo = TegridyFunctions.info(classOf[TegridyAccumulator], identifier.funcName,
      usage = "_FUNC_() - One row: the cumulative figures of the tokenize and detokenize calls of this SparkContext (all its sessions and, under Spark Connect, all clients of the server), the keys " +
        "of tegridy_tokens.metrics(spark).",
      extended = "\n    Examples:\n      > SELECT invocations, values_sent, retries FROM _FUNC_();\n")

    def build(arguments: Seq[Expression]): LogicalPlan = {
      if (arguments.nonEmpty) throw new IllegalArgumentException(s"tegridy_metrics takes no arguments, but got ${arguments.size}")
      val figures = TegridyAccumulator.forContext(SparkSession.active.sparkContext).value.asMap
      val keys = figures.keys.toSeq.sorted
      val attributes = keys.map(k => AttributeReference(k, if (k.startsWith("latency_ms_")) DoubleType else LongType, nullable = false)())
      val values: Seq[Any] = keys.map(k => if (k.startsWith("latency_ms_")) figures(k) else figures(k).toLong)
      LocalRelation(attributes, Seq(InternalRow.fromSeq(values)))
    }
  }
}
