package com.tegridy.spark.expressions

import org.apache.spark.TaskContext
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.analysis.TypeCheckResult
import org.apache.spark.sql.catalyst.expressions.UnaryExpression
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback
import org.apache.spark.sql.catalyst.util.ArrayData
import org.apache.spark.sql.types.{ArrayType, DataType, MapType, StringType, StructField, StructType}
import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.client.Operation
import com.tegridy.spark.config.TegridyConf
import com.tegridy.spark.metrics.TegridyAccumulator
import com.tegridy.spark.metrics.TegridyStats.Counter
import com.tegridy.spark.runtime.{BatchCollector, TegridyRuntime}
import com.tegridy.spark.shims.NullIntolerantShim

/**
 * What both token functions share: a STRING (any collation) gives a STRING, an ARRAY<STRING>
 * gives an ARRAY<STRING> element by element. NULL gives NULL and a blank value (empty or
 * whitespace only) comes back unchanged, neither ever sent. The settings captured at analysis,
 * and the session's metrics accumulator, travel with the expression to the executors.
 *
 * The batching rule (execution/ExtractTokenCalls) pulls these calls out of the plan into
 * BatchTokenizeExec wherever it can. `eval` is the row-by-row path for any call it leaves in
 * place: the same lookup pipeline (runtime/BatchCollector) as a batch of one row, counted in
 * `rows_unbatched`. Never folded at planning: EXPLAIN must not call the service.
 */
abstract class TegridyStringFunction extends UnaryExpression with CodegenFallback with NullIntolerantShim {
  def conf: TegridyConf
  def metrics: TegridyAccumulator
  def operation: Operation
  /** An access-denied answer gives '[REDACTED]' instead of failing the query (safe_detokenize). */
  def redactsDenied: Boolean = false

  /** The argument is an array: each element is a value. */
  def overArray: Boolean = child.dataType.isInstanceOf[ArrayType]

  /** The result is STRUCT<token, error>, the error the failed value's reason (never the value). */
  def perRowErrors: Boolean = false

  override def dataType: DataType =
    if (perRowErrors) TegridyStringFunction.ResultType
    else if (overArray) ArrayType(StringType, containsNull = true)
    else StringType
  override def nullable: Boolean = true
  override def foldable: Boolean = false

  override def checkInputDataTypes(): TypeCheckResult = child.dataType match {
    case _: StringType => TypeCheckResult.TypeCheckSuccess
    case ArrayType(_: StringType, _) if !perRowErrors => TypeCheckResult.TypeCheckSuccess
    case _: MapType =>
      TypeCheckResult.TypeCheckFailure(
        s"$prettyName takes a STRING or ARRAY<STRING> argument, but got a MAP (${child.dataType.sql}); call it over the " +
          s"map's values or keys, e.g. $prettyName(map_values(${child.sql})) or $prettyName(map_keys(${child.sql}))")
    case other =>
      TypeCheckResult.TypeCheckFailure(
        s"$prettyName takes a STRING or ARRAY<STRING> argument, but got ${other.sql}; cast it first, e.g. " +
          s"$prettyName(CAST(${child.sql} AS STRING))")
  }

  @transient private var leaseTask: TaskContext = _
  @transient private var leased: TegridyRuntime = _

  override def eval(input: InternalRow): Any = {
    val stats = metrics.value
    stats.increment(Counter.Rows)
    stats.increment(Counter.RowsUnbatched)
    val value = child.eval(input)
    TaskContext.get() match {
      case null => // off a task (the driver): lease for this call only
        val runtime = TegridyRuntime.acquire(conf)
        try evaluate(runtime, value) finally TegridyRuntime.release(runtime)
      case task =>
        if (leaseTask ne task) {
          val runtime = TegridyRuntime.acquire(conf)
          task.addTaskCompletionListener[Unit](_ => TegridyRuntime.release(runtime))
          leaseTask = task
          leased = runtime
        }
        evaluate(leased, value)
    }
  }

  /** One row through the lookup pipeline: a batch of one value, or of one array's elements. */
  private def evaluate(runtime: TegridyRuntime, value: Any): Any = {
    val collector = new BatchCollector(runtime, operation, prettyName, metrics.value, windowed = overArray)
    value match {
      case null => collector.resultOf(collector.lookUp(null))
      case array: ArrayData =>
        val slots = Array.tabulate(array.numElements())(i => collector.lookUp(if (array.isNullAt(i)) null else array.getUTF8String(i)))
        collector.flush()
        collector.resultsOf(slots, redactsDenied)
      case string: UTF8String if perRowErrors => collector.outcomeOf(collector.lookUp(string))
      case string: UTF8String => collector.resultOf(collector.lookUp(string), redactsDenied)
    }
  }

  // Settings and the accumulator stay out of EXPLAIN and the Spark UI: only the argument shows.
  override protected def stringArgs: Iterator[Any] = Iterator(child)
}

object TegridyStringFunction {
  val ResultType: StructType = StructType(Seq(StructField("token", StringType), StructField("error", StringType)))
}
