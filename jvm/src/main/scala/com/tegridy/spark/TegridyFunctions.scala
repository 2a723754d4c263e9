package com.tegridy.spark

import scala.annotation.nowarn

import org.apache.spark.sql.catalyst.{FunctionIdentifier, InternalRow}
import org.apache.spark.sql.catalyst.analysis.FunctionRegistry
import org.apache.spark.sql.catalyst.expressions.{AttributeReference, CaseWhen, EqualNullSafe, EqualTo, Expression, ExpressionInfo, If, In, Literal, Lower, MapFromArrays, StringTrim => Trim}
import org.apache.spark.sql.catalyst.plans.logical.{LocalRelation, LogicalPlan}
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.types.{DoubleType, LongType}

import com.tegridy.spark.config.{OnError, Settings, TegridyConf}
import com.tegridy.spark.client.FormattedValue
import com.tegridy.spark.expressions.{FormatTag, NonBlankDistinct, TegridyDetokenizeExpression, TegridySafeDetokenizeExpression, TegridyTokenizeExpression,
  TegridyTokenizeResultExpression, TokenizePii}
import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}

/**
 * The one list of SQL functions this library adds, as users type them. Each builder reads the
 * `spark.tegridy.*` settings in force where the call is analysed (a view's captured settings,
 * inside a view), so a query carries the settings that were in force when it was written. Every
 * function also takes an optional last argument, the scope (a constant STRING), which overrides
 * spark.tegridy.scope for that call.
 */
object TegridyFunctions {
  final case class Definition(name: String, info: ExpressionInfo, builder: Seq[Expression] => Expression) {
    def identifier: FunctionIdentifier = FunctionIdentifier(name)
  }

  val all: Seq[Definition] = Seq(
    tokenize(TegridyTokenizeExpression.Name),
    tokenize("tegridy_tokenize"), // the name the first PySpark UDFs used
    tokenize("tegridy_tokenize_batch"), // seed 001's array form: the same function over ARRAY<STRING>
    detokenize(TegridyDetokenizeExpression.Name),
    detokenize("tegridy_detokenize"),
    detokenize("tegridy_detokenize_batch"),
    tokenizeMap,
    conditionalTokenize,
    tryTokenize,
    tokenizeResult,
    tokenizeFormat,
    tokenizePii,
    safeDetokenize)

  private def tokenizeFormat = Definition("tegridy_tokenize_format",
    info(classOf[FormatTag], "tegridy_tokenize_format",
      usage = "_FUNC_(value, format[, scope]) - The format-preserving token of `value` (the same as " +
        "tegridy_tokenize_hp(value, format)). Formats: " + FormattedValue.Known.mkString(", ") + ".",
      extended = "\n    Examples:\n      > SELECT _FUNC_(ssn, 'ssn') FROM customers;\n       831-20-4417\n"),
    children => scoped("tegridy_tokenize_format", children, 2) {
      case (Seq(value, format), conf) => TegridyTokenizeExpression(FormatTag(value, format), conf, sessionMetrics())
      case (other, _) => throw new IllegalArgumentException(
        s"tegridy_tokenize_format takes two arguments (value, format) and an optional scope, but got ${other.size}")
    })

  // The type decides: one of spark.tegridy.pii.types is tokenized with its format (or the default
  // tokens if it is not a format); any other type leaves the value as it is, and it is never sent.
  private def tokenizePii = Definition(TokenizePii.Name,
    info(classOf[TokenizePii], TokenizePii.Name,
      usage = "_FUNC_(value, data_type[, scope]) - The token of `value` when `data_type` is one of spark.tegridy.pii.types " +
        "(with that type's format when it is one), otherwise `value` unchanged and never sent.",
      extended = "\n    Examples:\n      > SELECT _FUNC_(field_value, field_type) FROM profile_fields;\n"),
    children => scoped("tokenize_pii", children, 2) {
      case (Seq(value, dataType), conf) =>
        val kind = Lower(Trim(dataType))
        val format = CaseWhen(FormattedValue.Known.filter(conf.piiTypes.contains).map(f => (EqualTo(kind, Literal(f)): Expression, Literal(f): Expression)),
          Literal(FormattedValue.Default))
        TokenizePii(value, dataType, If(In(kind, conf.piiTypes.map(Literal(_))),
          TegridyTokenizeExpression(FormatTag(value, format), conf, sessionMetrics(), TokenizePii.Name), value))
      case (other, _) => throw new IllegalArgumentException(
        s"tokenize_pii takes two arguments (value, data_type) and an optional scope, but got ${other.size}")
    })

  private def tokenizeResult = Definition("tegridy_tokenize_result",
    info(classOf[TegridyTokenizeResultExpression], "tegridy_tokenize_result",
      usage = "_FUNC_(value[, format[, scope]]) - Returns STRUCT<token: STRING, error: STRING>: the token and a NULL error, or a " +
        "NULL token and why the value failed (never the value itself). A failed value never fails the query; an " +
        "outage still does.",
      extended = "\n    Examples:\n      > SELECT r.token, r.error FROM (SELECT _FUNC_(email) AS r FROM customers);\n"),
    children => scoped("tegridy_tokenize_result", children, 2) { case (args, conf) =>
      TegridyTokenizeResultExpression(valueOrFormatted("tegridy_tokenize_result", args), conf.copy(onError = OnError.Null),
        sessionMetrics())
    })

  private def tokenizeMap = Definition("tegridy_tokenize_map",
    info(classOf[NonBlankDistinct], "tegridy_tokenize_map",
      usage = "_FUNC_(values[, scope]) - Returns a MAP<STRING,STRING> from each distinct non-NULL, non-blank element of " +
        "the ARRAY<STRING> `values` to its token. A NULL array gives NULL. Batched like tegridy_tokenize_hp.",
      extended = "\n    Examples:\n      > SELECT _FUNC_(array(email, backup_email)) FROM customers;\n       {\"a@x.com\":\"tgr_…\"}\n"),
    children => scoped("tegridy_tokenize_map", children, 1) { case (args, conf) =>
      val keys = NonBlankDistinct(single("tegridy_tokenize_map", args))
      MapFromArrays(keys, TegridyTokenizeExpression(keys, conf, sessionMetrics()))
    })

  // The guard becomes part of the call's argument (GuardedCalls), so a value whose condition is
  // not true is never sent.
  private def conditionalTokenize = Definition("tegridy_conditional_tokenize",
    info(classOf[TegridyTokenizeExpression], "tegridy_conditional_tokenize",
      usage = "_FUNC_(value, condition[, scope]) - Returns the token of `value` when `condition` is true, and `value` " +
        "unchanged otherwise (condition false or NULL); a value whose condition is not true is never sent.",
      extended = "\n    Examples:\n      > SELECT _FUNC_(email, consent = 'no') FROM customers;\n"),
    children => scoped("tegridy_conditional_tokenize", children, 2) {
      case (Seq(value, condition), conf) =>
        If(EqualNullSafe(condition, Literal.TrueLiteral), TegridyTokenizeExpression(value, conf, sessionMetrics()), value)
      case (other, _) => throw new IllegalArgumentException(
        s"tegridy_conditional_tokenize takes two arguments (value, condition) and an optional scope, but got ${other.size}")
    })

  // Spark's try_ convention: a value that fails gives NULL (counted in `errors`), whatever onError
  // says; an outage still fails the query, as everywhere.
  private def tryTokenize = Definition("tegridy_try_tokenize",
    info(classOf[TegridyTokenizeExpression], "tegridy_try_tokenize",
      usage = "_FUNC_(value[, format[, scope]]) - Like tegridy_tokenize_hp, but a value the service (or its format) refuses gives NULL (counted in " +
        "the 'errors' metric) whatever spark.tegridy.onError says. An outage still fails the query.",
      extended = "\n    Examples:\n      > SELECT _FUNC_(email) FROM customers;\n"),
    children => scoped("tegridy_try_tokenize", children, 2) { case (args, conf) =>
      TegridyTokenizeExpression(valueOrFormatted("tegridy_try_tokenize", args), conf.copy(onError = OnError.Null),
        sessionMetrics(), "tegridy_try_tokenize")
    })

  private def tokenize(name: String) = Definition(
    name,
    info(classOf[TegridyTokenizeExpression], name,
      usage = "_FUNC_(value[, format[, scope]]) - Returns the token for `value` (a STRING, or each element of an " +
        "ARRAY<STRING>) from the Tegridy Tokens service; with a format (" + FormattedValue.Known.mkString(", ") +
        "), a format-preserving token; with a scope, that scope's token (tokens of two scopes are unrelated). " +
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
          |""".stripMargin),
    children => scoped(name, children, 2) { case (args, conf) =>
      TegridyTokenizeExpression(valueOrFormatted(name, args), conf, sessionMetrics())
    })

  private def detokenize(name: String) = Definition(
    name,
    info(classOf[TegridyDetokenizeExpression], name,
      usage = "_FUNC_(token[, format[, scope]]) - Returns the value behind `token` (or each element of an ARRAY<STRING>) " +
        "from the Tegridy Tokens service; give the format a format-preserving token was made with, and its scope " +
        "(a default-format token carries its own). " +
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
          |""".stripMargin),
    children => scoped(name, children, 2, detokenizeConf(name)) { case (args, conf) =>
      TegridyDetokenizeExpression(valueOrFormatted(name, args), conf, sessionMetrics())
    })

  private def safeDetokenize = Definition(
    TegridySafeDetokenizeExpression.Name,
    info(classOf[TegridySafeDetokenizeExpression], TegridySafeDetokenizeExpression.Name,
      usage = "_FUNC_(token [, role[, scope]]) - Returns the value behind `token`, or '[REDACTED]' when this job may not " +
        "invoke the detokenize function or read the token's scope (access denied). Any other failure fails as tegridy_detokenize_hp does. " +
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
          |""".stripMargin),
    arguments => scoped(TegridySafeDetokenizeExpression.Name, arguments, 2, detokenizeConf(TegridySafeDetokenizeExpression.Name)) {
      case (children, conf) =>
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
        TegridySafeDetokenizeExpression(token, role, conf.copy(claimedRole = role), sessionMetrics())
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
    new ExpressionInfo(cls.getCanonicalName, null, name, usage,
      extended + "\n    Settings (docs/configuration.md):\n" + Settings.describe + "\n")

  /**
   * A call's arguments without its scope, and the settings with that scope: a call given one more
   * argument than `most` names its scope as the last, a constant STRING (NULL: the session's).
   */
  private def scoped(name: String, children: Seq[Expression], most: Int, base: => TegridyConf = sessionConf())(
      build: PartialFunction[(Seq[Expression], TegridyConf), Expression]): Expression = {
    val conf = base
    val (args, withScope) = if (children.size == most + 1) {
      val scope = children.last
      if (!scope.foldable || !scope.dataType.isInstanceOf[org.apache.spark.sql.types.StringType]) {
        throw new IllegalArgumentException(s"$name's scope (its last argument) must be a constant STRING, e.g. 'marketing'")
      }
      (children.init, Option(scope.eval()).map(s => conf.withScope(s.toString)).getOrElse(conf))
    } else (children, conf)
    build((args, withScope))
  }

  /** (value) or (value, format): a format-preserving call's argument carries its format. */
  private def valueOrFormatted(name: String, children: Seq[Expression]): Expression = children match {
    case Seq(value) => value
    case Seq(value, format) if format.foldable && format.eval() == null => value // a constant NULL: the default format
    case Seq(value, format) => FormatTag(value, format)
    case _ => throw new IllegalArgumentException(
      s"$name takes one argument (value) or two (value, format), but got ${children.size}")
  }

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
      // Each branch typed Any: Scala 2.12 (Spark 3.5) would widen the Long branch back to a Double.
      val values: Seq[Any] = keys.map(k => if (counts(k)) (figures(k).toLong: Any) else (figures(k): Any))
      LocalRelation(attributes, Seq(InternalRow.fromSeq(values)))
    }
  }
}
