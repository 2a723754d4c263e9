package com.tegridy.spark.expressions

import org.apache.spark.sql.catalyst.analysis.TypeCheckResult
import org.apache.spark.sql.catalyst.expressions.UnaryExpression
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback
import org.apache.spark.sql.types.{DataType, StringType}
import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.runtime.TegridyRuntime

/**
 * What both token functions share: STRING in (any collation) and STRING out; NULL gives NULL
 * and a blank value (empty or whitespace only) comes back unchanged, neither ever sent. The
 * settings captured at analysis travel with the expression to the executors.
 *
 * `eval` is the direct path (cache, then one call per value) for plans the batching rule does
 * not rewrite; the rule replaces these calls with a batched operator wherever it can.
 */
abstract class TegridyStringFunction extends UnaryExpression with CodegenFallback {
  def conf: TegridyConf

  /** The answer for one non-blank value; None only under `onError=null`. */
  protected def resolve(runtime: TegridyRuntime, value: String): Option[String]

  override def dataType: DataType = StringType
  override def nullable: Boolean = true
  override def nullIntolerant: Boolean = true

  override def checkInputDataTypes(): TypeCheckResult = child.dataType match {
    case _: StringType => TypeCheckResult.TypeCheckSuccess
    case other =>
      TypeCheckResult.TypeCheckFailure(
        s"$prettyName takes a STRING argument, but got ${other.sql}; cast it first, e.g. " +
          s"$prettyName(CAST(${child.sql} AS STRING))")
  }

  @transient private lazy val runtime = TegridyRuntime.forConf(conf)

  override protected def nullSafeEval(input: Any): Any = {
    val value = input.asInstanceOf[UTF8String]
    if (BlankValues.isBlank(value)) value
    else resolve(runtime, value.toString).map(UTF8String.fromString).orNull
  }

  // Settings stay out of EXPLAIN and the Spark UI: only the argument is shown.
  override protected def stringArgs: Iterator[Any] = Iterator(child)
}

/** Blank = empty or whitespace only (Unicode whitespace included); never sent to the service. */
object BlankValues {
  def isBlank(value: UTF8String): Boolean = {
    val bytes = value.getBytes
    var i = 0
    var asciiOnly = true
    while (i < bytes.length) {
      val b = bytes(i)
      if (b < 0) asciiOnly = false
      else if (!(b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == 0x0b || b == '\f' || (b >= 0x1c && b <= 0x1f))) return false
      i += 1
    }
    asciiOnly || isBlank(value.toString)
  }

  def isBlank(value: String): Boolean = value.codePoints().allMatch(c => Character.isWhitespace(c) || Character.isSpaceChar(c))
}
