package com.tegridy.spark.expressions

import org.apache.spark.sql.catalyst.analysis.TypeCheckResult
import org.apache.spark.sql.catalyst.expressions.UnaryExpression
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback
import org.apache.spark.sql.types.{DataType, StringType}
import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.metrics.TegridyAccumulator
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.runtime.{Operation, TegridyRuntime}

/**
 * What both token functions share: STRING in (any collation) and STRING out; NULL gives NULL
 * and a blank value (empty or whitespace only) comes back unchanged, neither ever sent. The
 * settings captured at analysis, and the session's metrics accumulator, travel with the
 * expression to the executors.
 *
 * The batching rule (execution/ExtractTokenCalls) pulls these calls out of the plan into
 * BatchTokenizeExec wherever it can. `eval` is the direct path for any call it leaves in place:
 * cache, then a batch of one, still single-flight with other tasks.
 */
abstract class TegridyStringFunction extends UnaryExpression with CodegenFallback {
  def conf: TegridyConf
  def metrics: TegridyAccumulator
  def operation: Operation

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
    val stats = metrics.value
    stats.increment(Counter.Rows)
    if (BlankValues.isBlank(value)) {
      stats.increment(Counter.NullsOrBlanks)
      value
    } else if (!value.isValid) {
      runtime.onFailure(runtime.invalidUtf8, prettyName, stats).orNull
    } else {
      runtime.resolveOne(operation, value.toString, prettyName, stats).map(UTF8String.fromString).orNull
    }
  }

  // Settings and the accumulator stay out of EXPLAIN and the Spark UI: only the argument shows.
  override protected def stringArgs: Iterator[Any] = Iterator(child)
}

/** Blank = empty or whitespace only (Unicode whitespace included); never sent to the service. */
object BlankValues {
  def isBlank(value: UTF8String): Boolean = {
    // Reads the bytes in place: getBytes would copy a string that lives inside a row.
    val length = value.numBytes
    var i = 0
    var asciiOnly = true
    while (i < length) {
      val b = value.getByte(i)
      if (b < 0) asciiOnly = false
      else if (!(b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == 0x0b || b == '\f' || (b >= 0x1c && b <= 0x1f))) return false
      i += 1
    }
    asciiOnly || isBlank(value.toString)
  }

  def isBlank(value: String): Boolean = value.codePoints().allMatch(c => Character.isWhitespace(c) || Character.isSpaceChar(c))
}
