package com.tegridy.spark

import scala.annotation.nowarn

import org.apache.spark.sql.catalyst.{FunctionIdentifier, InternalRow}
import org.apache.spark.sql.catalyst.analysis.FunctionRegistry
import org.apache.spark.sql.catalyst.expressions.{AttributeReference, EqualNullSafe, Expression, ExpressionInfo, If, Literal, MapFromArrays}
import org.apache.spark.sql.catalyst.plans.logical.{LocalRelation, LogicalPlan}
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.types.{DoubleType, LongType}

import com.tegridy.spark.config.{OnError, Settings, TegridyConf}
import com.tegridy.spark.expressions.{NonBlankDistinct, TegridyDetokenizeExpression, TegridyTokenizeExpression, TegridyTokenizeResultExpression}
import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}

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
    tokenize("tegridy_tokenize_batch"), // seed 001's array form: the same function over ARRAY<STRING>
    detokenize(TegridyDetokenizeExpression.Name),
    detokenize("tegridy_detokenize"),
    detokenize("tegridy_detokenize_batch"),
    tokenizeMap,
    conditionalTokenize,
    tryTokenize,
    tokenizeResult)

  private def tokenizeResult = Definition("tegridy_tokenize_result",
    info(classOf[TegridyTokenizeResultExpression], "tegridy_tokenize_result",
      usage = "_FUNC_(value) - Returns STRUCT<token: STRING, error: STRING>: the token and a NULL error, or a " +
        "NULL token and why the value failed (never the value itself). A failed value never fails the query; an " +
        "outage still does.",
      extended = "\n    Examples:\n      > SELECT r.token, r.error FROM (SELECT _FUNC_(email) AS r FROM customers);\n"),
    children => TegridyTokenizeResultExpression(single("tegridy_tokenize_result", children),
      sessionConf().copy(onError = OnError.Null), sessionMetrics()))

  private def tokenizeMap = Definition("tegridy_tokenize_map",
    info(classOf[NonBlankDistinct], "tegridy_tokenize_map",
      usage = "_FUNC_(values) - Returns a MAP<STRING,STRING> from each distinct non-NULL, non-blank element of " +
        "the ARRAY<STRING> `values` to its token. A NULL array gives NULL. Batched like tegridy_tokenize_hp.",
      extended = "\n    Examples:\n      > SELECT _FUNC_(array(email, backup_email)) FROM customers;\n       {\"a@x.com\":\"tgr_…\"}\n"),
    children => {
      val keys = NonBlankDistinct(single("tegridy_tokenize_map", children))
      MapFromArrays(keys, TegridyTokenizeExpression(keys, sessionConf(), sessionMetrics()))
    })

  // The guard becomes part of the call's argument (GuardedCalls), so a value whose condition is
  // not true is never sent.
  private def conditionalTokenize = Definition("tegridy_conditional_tokenize",
    info(classOf[TegridyTokenizeExpression], "tegridy_conditional_tokenize",
      usage = "_FUNC_(value, condition) - Returns the token of `value` when `condition` is true, and `value` " +
        "unchanged otherwise (condition false or NULL); a value whose condition is not true is never sent.",
      extended = "\n    Examples:\n      > SELECT _FUNC_(email, consent = 'no') FROM customers;\n"),
    {
      case Seq(value, condition) =>
        If(EqualNullSafe(condition, Literal.TrueLiteral), TegridyTokenizeExpression(value, sessionConf(), sessionMetrics()), value)
      case other => throw new IllegalArgumentException(
        s"tegridy_conditional_tokenize takes two arguments (value, condition), but got ${other.size}")
    })

  // Spark's try_ convention: a value that fails gives NULL (counted in `errors`), whatever onError
  // says; an outage still fails the query, as everywhere.
  private def tryTokenize = Definition("tegridy_try_tokenize",
    info(classOf[TegridyTokenizeExpression], "tegridy_try_tokenize",
      usage = "_FUNC_(value) - Like tegridy_tokenize_hp, but a value the service refuses gives NULL (counted in " +
        "the 'errors' metric) whatever spark.tegridy.onError says. An outage still fails the query.",
      extended = "\n    Examples:\n      > SELECT _FUNC_(email) FROM customers;\n"),
    children => TegridyTokenizeExpression(single("tegridy_try_tokenize", children),
      sessionConf().copy(onError = OnError.Null), sessionMetrics()))

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
    children => TegridyDetokenizeExpression(single(name, children), sessionConf(), sessionMetrics()))

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
      val counts = TegridyStats.Counter.all.map(_.key).toSet
      val attributes = keys.map(k => AttributeReference(k, if (counts(k)) LongType else DoubleType, nullable = false)())
      val values: Seq[Any] = keys.map(k => if (counts(k)) figures(k).toLong else figures(k))
      LocalRelation(attributes, Seq(InternalRow.fromSeq(values)))
    }
  }
}
