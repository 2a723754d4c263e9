package com.tegridy.spark

import scala.annotation.nowarn

import org.apache.spark.sql.catalyst.FunctionIdentifier
import org.apache.spark.sql.catalyst.expressions.{Expression, ExpressionInfo}
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.internal.SQLConf

import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.expressions.{TegridyDetokenizeExpression, TegridyTokenizeExpression}
import com.tegridy.spark.metrics.TegridyAccumulator

/**
 * The one list of SQL functions this library adds, as users type them. Each builder reads the
 * `spark.tegridy.*` settings of the session analysing the query, so a query carries the
 * settings that were in force when it was written.
 */
object TegridyFunctions {
  final case class Definition(name: String, info: ExpressionInfo, builder: Seq[Expression] => Expression) {
    def identifier: FunctionIdentifier = FunctionIdentifier(name)
  }

  val all: Seq[Definition] = Seq(
    tokenize(TegridyTokenizeExpression.Name),
    tokenize("tegridy_tokenize"), // seed 001's name
    detokenize(TegridyDetokenizeExpression.Name),
    detokenize("tegridy_detokenize"))

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
          |    Settings: spark.tegridy.lambda.functionName (required), spark.tegridy.lambda.endpoint,
          |      spark.tegridy.batch.maxRows, spark.tegridy.onError (fail|null) and the rest in docs/configuration.md.
          |""".stripMargin),
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
          |""".stripMargin),
    children => TegridyDetokenizeExpression(single(name, children), sessionConf(), sessionMetrics()))

  // The 5-argument constructor keeps the free-form extended text; the 11-argument one validates a
  // layout that changes between Spark versions.
  @nowarn("cat=deprecation")
  private def info(cls: Class[_], name: String, usage: String, extended: String): ExpressionInfo =
    new ExpressionInfo(cls.getCanonicalName, null, name, usage, extended)

  private def single(name: String, children: Seq[Expression]): Expression = children match {
    case Seq(child) => child
    case _ => throw new IllegalArgumentException(
      s"$name takes exactly one argument (a STRING expression), but got ${children.size}")
  }

  /** The metrics accumulator of the session whose analyzer is building the call (driver side). */
  private def sessionMetrics(): TegridyAccumulator = TegridyAccumulator.forContext(SparkSession.active.sparkContext)

  /** The `spark.tegridy.*` settings of the session whose analyzer is building the call. */
  private def sessionConf(): TegridyConf =
    TegridyConf.from(SQLConf.get.getAllConfs.filter { case (key, _) => key.startsWith(TegridyConf.Prefix) })
}
