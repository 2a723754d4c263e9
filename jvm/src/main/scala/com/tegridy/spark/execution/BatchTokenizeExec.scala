package com.tegridy.spark.execution

import org.apache.spark.TaskContext
import org.apache.spark.rdd.RDD
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.{Attribute, AttributeSet, BindReferences, BoundReference, Expression, SortOrder}
import org.apache.spark.sql.catalyst.expressions.codegen.{CodegenContext, CodeGenerator, ExprCode, GenerateUnsafeProjection, JavaCode}
import org.apache.spark.sql.catalyst.plans.physical.Partitioning
import org.apache.spark.sql.execution.{CodegenSupport, SparkPlan, UnaryExecNode}
import org.apache.spark.sql.execution.metric.{SQLMetric, SQLMetrics}
import org.apache.spark.tegridy.DriverChannel

import com.tegridy.spark.metrics.{TegridyAccumulator, TegridyStats}
import com.tegridy.spark.metrics.TegridyStats.Counter

/**
 * The physical operator for [[BatchTokenize]]: each call's argument (`arguments`) goes through
 * the lookup pipeline of a per-task [[TokenizeTask]], and each row comes out, in order, joined
 * with its calls' results. Its figures go to SQL metrics (Spark UI) and to the session's
 * [[TegridyAccumulator]] (`tegridy_tokens.metrics(spark)`) when the task ends.
 *
 * Inside whole-stage codegen (see [[doConsume]]) a row whose answers are all known goes on from
 * the child's generated loop as variables, with no copy and no iterator; only a row that must
 * wait is copied into the task's FIFO. Otherwise [[BatchTokenizeIterator]] drives the same task.
 */
case class BatchTokenizeExec(arguments: Seq[Expression], functions: Seq[Option[TokenCall]], resultAttrs: Seq[Attribute],
    child: SparkPlan, rowLimit: Option[Int]) extends UnaryExecNode with CodegenSupport {

  override def output: Seq[Attribute] = child.output ++ resultAttrs
  override def producedAttributes: AttributeSet = AttributeSet(resultAttrs)
  // Rows pass through in order with all their columns: the child's layout still holds.
  override def outputPartitioning: Partitioning = child.outputPartitioning
  override def outputOrdering: Seq[SortOrder] = child.outputOrdering

  // EXPLAIN and the Spark UI show each call as function(argument), never its settings.
  override protected def stringArgs: Iterator[Any] =
    Iterator(arguments.zip(functions).map { case (argument, f) => f.fold(argument.toString)(c => s"$c($argument)") },
      resultAttrs, rowLimit)

  override lazy val metrics: Map[String, SQLMetric] = Counter.all.map { counter =>
    counter.key -> (counter match {
      case Counter.BytesSent | Counter.BytesReceived => SQLMetrics.createSizeMetric(sparkContext, counter.label)
      case Counter.InvocationNanos => SQLMetrics.createNanoTimingMetric(sparkContext, "time in invocations")
      case Counter.TaskNanos => SQLMetrics.createNanoTimingMetric(sparkContext, "time in tasks")
      case _ => SQLMetrics.createMetric(sparkContext, counter.label)
    })
  }.toMap

  // Resolved on the driver when the plan executes; a copy travels with every task.
  @transient private lazy val accumulator = TegridyAccumulator.forContext(sparkContext)

  private def opener: TokenizeTaskOpener = new TokenizeTaskOpener(functions, rowLimit, metrics, accumulator)

  override protected def doExecute(): RDD[InternalRow] = {
    val (open, arguments, childOutput, output) = (opener, this.arguments, child.output, this.output)
    child.execute().mapPartitions(rows => new BatchTokenizeIterator(rows, arguments, open.open(), childOutput, output),
      preservesPartitioning = true)
  }

  // ---- whole-stage codegen ----

  // Every result is an object (string, array, struct), and one generated method takes a row's columns.
  override def supportCodegen: Boolean =
    arguments.forall(a => !CodeGenerator.isPrimitiveType(a.dataType)) &&
      CodeGenerator.isValidParamLength(CodeGenerator.calculateParamLength(output))

  override def inputRDDs(): Seq[RDD[InternalRow]] = child.asInstanceOf[CodegenSupport].inputRDDs()

  // Names in the generated class, set while it is generated.
  @transient private var taskTerm: String = _
  @transient private var drainTerm: String = _

  /**
   * Generated (the per-row work is in [[TokenizeTask]]; this is only the plumbing):
   * {{{
   *   if (task.hasWaiting()) { if (drain(false)) return; }   // answered rows first, before reading on
   *   else task.restoreInputFile();     // a row last emitted from the FIFO left its file in place
   *   <child's loop, each row through doConsume>
   *   if (drain(true)) return;          // the input has ended: the rows still waiting, in order
   * }}}
   * The parent takes one row per call (`shouldStop()`), so without the first line each call
   * would read one row into the FIFO and emit one from it: once a row had waited, every later row
   * of the task would be copied through the FIFO. Draining first lets it empty as soon as its
   * answers are in, and rows then go on from the child's loop again.
   */
  override protected def doProduce(ctx: CodegenContext): String = {
    val openerTerm = ctx.addReferenceObj("tokenizeOpener", opener, classOf[TokenizeTaskOpener].getName)
    taskTerm = ctx.addMutableState(classOf[TokenizeTask].getName, "tokenizeTask",
      v => s"$v = $openerTerm.open();", forceInline = true)
    val childLoop = child.asInstanceOf[CodegenSupport].produce(ctx, this)
    s"""
       |if ($taskTerm.hasWaiting()) {
       |  if ($drainTerm(false)) return;
       |} else {
       |  $taskTerm.restoreInputFile();
       |}
       |$childLoop
       |if ($drainTerm(true)) return;
     """.stripMargin
  }

  /**
   * Generated per child row:
   * {{{
   *   task.beginRow(); task.lookUp(0, arg0); ...
   *   if (task.passes()) emit(<child's columns>, task.result(0), ...);   // no copy
   *   else { task.enqueue(<child's row>); drain(false); }                 // copied; out in order
   * }}}
   * `emit` holds the parent's code, generated once for both ways out; `drain` emits the FIFO's
   * head while it may go out (answered, or the FIFO full), at most until the parent asks to stop
   * (`shouldStop()`: the child's loop then returns, and the rest waits for the next call).
   */
  override def doConsume(ctx: CodegenContext, input: Seq[ExprCode], row: ExprCode): String = {
    val task = taskTerm
    val evaluateInputs = evaluateVariables(input)

    ctx.currentVars = input
    ctx.INPUT_ROW = null
    val lookUps = arguments.zipWithIndex.map { case (argument, i) =>
      val ev = BindReferences.bindReference(argument, child.output).genCode(ctx)
      s"""
         |${ev.code}
         |$task.lookUp($i, ${ev.isNull} ? null : (Object) ${ev.value});
       """.stripMargin
    }.mkString

    // The child's row as an UnsafeRow, to copy when it must wait.
    val (rowCode, rowValue) =
      if (row != null && row.code.isEmpty) ("", row.value.toString)
      else {
        ctx.currentVars = input
        ctx.INPUT_ROW = null
        val columns = child.output.zipWithIndex.map { case (a, i) => BoundReference(i, a.dataType, a.nullable) }
        val ev = GenerateUnsafeProjection.createCode(ctx, columns, useSubexprElimination = false)
        (ev.code.toString, ev.value.toString)
      }

    val emit = emitFunction(ctx)
    drainTerm = drainFunction(ctx, emit)
    val results = resultAttrs.indices.map(i => ctx.freshName("result") -> i)
    val resultArgs = results.map { case (r, i) =>
      s"(${CodeGenerator.javaType(resultAttrs(i).dataType)}) $r, $r == null"
    }
    val childArgs = input.map(ev => s"${ev.value}, ${ev.isNull}")
    s"""
       |$evaluateInputs
       |$task.beginRow();
       |$lookUps
       |if ($task.passes()) {
       |  ${results.map { case (r, i) => s"Object $r = $task.result($i);" }.mkString("\n")}
       |  $emit(${(childArgs ++ resultArgs).mkString(", ")});
       |} else {
       |  $rowCode
       |  $task.enqueue($rowValue);
       |  $drainTerm(false);
       |}
     """.stripMargin
  }

  /** A method taking the output's columns (value and is-null each) that hands them to the parent. */
  private def emitFunction(ctx: CodegenContext): String = {
    val params = output.map { attr =>
      val (value, isNull) = (ctx.freshName("column"), ctx.freshName("columnIsNull"))
      (s"${CodeGenerator.javaType(attr.dataType)} $value, boolean $isNull",
        ExprCode(JavaCode.isNullVariable(isNull), JavaCode.variable(value, attr.dataType)))
    }
    val name = ctx.freshName("emitTokenized")
    val body = consume(ctx, params.map(_._2))
    ctx.addNewFunction(name,
      s"""
         |private void $name(${params.map(_._1).mkString(", ")}) throws java.io.IOException {
         |  $body
         |}
       """.stripMargin)
  }

  /** A method emitting the FIFO's rows that may go out; true when the parent asked to stop. */
  private def drainFunction(ctx: CodegenContext, emit: String): String = {
    val task = taskTerm
    val waitingRow = ctx.freshName("waitingRow")
    ctx.currentVars = null
    ctx.INPUT_ROW = waitingRow
    val columns = child.output.zipWithIndex.map { case (a, i) => BoundReference(i, a.dataType, a.nullable).genCode(ctx) }
    ctx.INPUT_ROW = null
    val results = resultAttrs.indices.map(i => ctx.freshName("result") -> i)
    val args = columns.map(ev => s"${ev.value}, ${ev.isNull}") ++ results.map { case (r, i) =>
      s"(${CodeGenerator.javaType(resultAttrs(i).dataType)}) $r, $r == null"
    }
    val limitNotReached = if (limitNotReachedChecks.isEmpty) "true" else limitNotReachedChecks.mkString(" && ")
    val name = ctx.freshName("drainTokenized")
    ctx.addNewFunction(name,
      s"""
         |private boolean $name(boolean inputEnded) throws java.io.IOException {
         |  while ($limitNotReached) {
         |    InternalRow $waitingRow = $task.nextWaiting(inputEnded);
         |    if ($waitingRow == null) break;
         |    ${columns.map(_.code).mkString("\n")}
         |    ${results.map { case (r, i) => s"Object $r = $task.result($i);" }.mkString("\n")}
         |    $emit(${args.mkString(", ")});
         |    if (shouldStop()) return true;
         |  }
         |  $task.restoreInputFile();
         |  return false;
         |}
       """.stripMargin)
  }

  override protected def withNewChildInternal(newChild: SparkPlan): BatchTokenizeExec = copy(child = newChild)
}

object BatchTokenizeExec {
  /** The operator for these calls (token functions, or what the optimizer made of them). */
  def of(calls: Seq[Expression], resultAttrs: Seq[Attribute], child: SparkPlan, rowLimit: Option[Int]): BatchTokenizeExec = {
    val (arguments, functions) = calls.map(TokenCall.split).unzip
    BatchTokenizeExec(arguments, functions, resultAttrs, child, rowLimit)
  }
}

/**
 * Opens each task's [[TokenizeTask]] on the executor, for either path, and at the task's end,
 * however it ends, closes it and reports its figures.
 */
final class TokenizeTaskOpener(functions: Seq[Option[TokenCall]], rowLimit: Option[Int],
    sqlMetrics: Map[String, SQLMetric], sessionMetrics: TegridyAccumulator) extends Serializable {

  def open(): TokenizeTask = {
    val stats = new TegridyStats
    val started = System.nanoTime()
    val task = new TokenizeTask(functions, stats, rowLimit)
    TaskContext.get().addTaskCompletionListener[Unit] { context =>
      task.close()
      stats.add(Counter.TaskNanos, System.nanoTime() - started)
      Counter.all.foreach(counter => sqlMetrics(counter.key).add(stats.get(counter)))
      // A failed attempt's rows are counted again by its retry; its calls and retries happened once.
      val figures = if (context.isFailed() || context.isInterrupted()) stats.withoutWork else stats
      // Spark drops the accumulator updates of an attempt killed after its stage ended: a killed
      // attempt's figures go to the driver another way (once: not through the accumulator too).
      if (!(context.isInterrupted() && DriverChannel.send(figures))) sessionMetrics.add(figures)
    }
    task
  }
}
