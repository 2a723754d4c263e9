package com.tegridy.spark.execution

import scala.collection.mutable

import org.apache.spark.sql.catalyst.expressions._
import org.apache.spark.sql.catalyst.expressions.aggregate.AggregateExpression
import org.apache.spark.sql.catalyst.plans.logical._
import org.apache.spark.sql.catalyst.rules.Rule
import org.slf4j.LoggerFactory

import com.tegridy.spark.execution.GuardedCalls.hasCall
import com.tegridy.spark.expressions.TegridyStringFunction

/**
 * Pulls every token-function call out of the operator that holds it (Project, Filter,
 * Aggregate, Join condition, Sort, Window, ...) into a [[BatchTokenize]] node below it, and
 * replaces the call by that node's result attribute: the operator then reads a column, and the
 * calls are evaluated in batches by BatchTokenizeExec. Modelled on Spark's ExtractPythonUDFs:
 *
 *  1. calls over an aggregate's results (or its grouping keys) move above the Aggregate;
 *  2. calls inside grouping expressions move into a Project below it;
 *  3. every operator's calls move into a BatchTokenize under the child whose columns they
 *     read; semantically equal calls are evaluated once; a call inside a conditional branch
 *     carries its guard (GuardedCalls), so no value of an untaken branch is ever sent;
 *     calls over other calls are peeled off one layer per BatchTokenize.
 *
 * Before that, a call inside transform, filter, exists, forall, aggregate, transform_values or
 * transform_keys that reads only the lambda's element becomes the array form (BatchLambdas).
 * After it, the calls under a LIMIT that never reads them move above it (DeferPastLimits), and a
 * LIMIT still above a BatchTokenize (through Projects and Filters) caps its read-ahead.
 *
 * A call that cannot move (its argument reads several children, a lambda variable, an
 * aggregate or window result) stays where it is and is evaluated by `eval`, which is correct,
 * only slower: it is counted in `rows_unbatched` and named, with the reason, in one WARN line.
 * A correlated subquery is left alone, as ExtractPythonUDFs does; once Spark has rewritten it
 * into a join, BatchTokenizeStrategy extracts its calls.
 */
object ExtractTokenCalls extends Rule[LogicalPlan] with PredicateHelper {
  private val warnings = LoggerFactory.getLogger(getClass)

  override def apply(plan: LogicalPlan): LogicalPlan = plan match {
    case s: Subquery if s.correlated => plan
    case _ if !plan.exists(_.expressions.exists(hasCall)) => plan
    case _ =>
      val done = markLimits(DeferPastLimits(extractAll(plan.transformAllExpressions(BatchLambdas.rewrite))))
      warnUnbatched(done)
      done
  }

  private def extractAll(plan: LogicalPlan): LogicalPlan = {
      val aboveAggregates = plan.transformUp {
        case agg: Aggregate if agg.aggregateExpressions.exists(callOverAggregate(_, agg)) => moveAboveAggregate(agg)
      }
      val groupingDone = aboveAggregates.transformUp {
        case agg: Aggregate if agg.groupingExpressions.exists(hasCall) => moveGroupingBelow(agg)
      }
      groupingDone.transformUp {
        case batch: BatchTokenize => batch
        case operator if operator.children.nonEmpty && operator.expressions.exists(hasCall) && !writesRows(operator) =>
          extract(operator)
      }
  }

  /**
   * A row-level write (DELETE, UPDATE, MERGE on a v2 table: ReplaceData, WriteDelta, Iceberg's own
   * nodes) keeps its condition to plan again over a fresh scan (the files to rewrite are found by a
   * subquery of its own), so the condition must keep its calls: its query, which filters the rows,
   * holds the same condition and is batched as any query.
   */
  private def writesRows(operator: LogicalPlan): Boolean = operator.isInstanceOf[V2WriteCommand]

  // ---- after: a LIMIT above caps the read-ahead ----

  private def markLimits(plan: LogicalPlan): LogicalPlan = plan.transformDown {
    case limit @ LocalLimit(IntegerLiteral(n), child) => limit.withNewChildren(Seq(limitBelow(child, n)))
  }

  private def limitBelow(plan: LogicalPlan, n: Int): LogicalPlan = plan match {
    case batch: BatchTokenize =>
      batch.copy(child = limitBelow(batch.child, n), rowLimit = Some(batch.rowLimit.fold(n)(math.min(_, n))))
    case _: Project | _: Filter | _: LocalRowsBarrier => plan.withNewChildren(Seq(limitBelow(plan.children.head, n)))
    case other => other
  }

  // ---- what stays row by row is said once per query, with why, never with a value ----

  // Plans already warned about, by identity: a fixed-point batch applies the rule again to the same plan.
  private val warned = java.util.Collections.synchronizedMap(new java.util.LinkedHashMap[Integer, java.lang.Boolean]() {
    override def removeEldestEntry(eldest: java.util.Map.Entry[Integer, java.lang.Boolean]): Boolean = size() > 256
  })

  private def warnUnbatched(plan: LogicalPlan): Unit = {
    val left = plan.flatMap {
      case _: BatchTokenize => Nil
      case operator if writesRows(operator) => Nil
      case operator => operator.expressions.flatMap(unbatchedCalls(_, operator))
    }.distinct
    if (left.nonEmpty && warned.put(System.identityHashCode(plan), java.lang.Boolean.TRUE) == null) {
      warnings.warn(s"${left.size} call(s) in this query are evaluated row by row, not batched (counted in the " +
        s"rows_unbatched metric): ${left.mkString("; ")}")
    }
  }

  private def unbatchedCalls(e: Expression, operator: LogicalPlan): Seq[String] = e match {
    case _: SubqueryExpression => Nil // its plan is optimized on its own, or becomes a join batched at planning
    case call: TegridyStringFunction if !hasCall(call.child) => Seq(s"${call.prettyName}: ${whyUnbatched(call, operator)}")
    case other => other.children.flatMap(unbatchedCalls(_, operator))
  }

  private def whyUnbatched(call: TegridyStringFunction, operator: LogicalPlan): String =
    if (readsOuterLambda(call.child))
      "its argument reads a lambda variable other than the element (e.g. aggregate's accumulator); use the array form " +
        "tegridy_tokenize_hp(array) where you can"
    else if (call.child.exists(e => e.isInstanceOf[AggregateExpression] || e.isInstanceOf[WindowExpression]))
      "its argument reads an aggregate or window result"
    else if (call.child.exists(_.isInstanceOf[OuterReference])) "its argument reads an outer query's column"
    else if (operator.children.size > 1) "its argument reads columns of more than one input (e.g. both sides of a join)"
    else s"it sits in a ${operator.nodeName} operator, which the rule does not rewrite"

  // ---- step 1: calls over aggregate results are evaluated after the aggregate ----

  private def belongsToAggregate(e: Expression, agg: Aggregate): Boolean =
    e.isInstanceOf[AggregateExpression] || agg.groupingExpressions.exists(_.semanticEquals(e))

  private def callOverAggregate(e: Expression, agg: Aggregate): Boolean = e.exists {
    case call: TegridyStringFunction => call.references.isEmpty || call.exists(belongsToAggregate(_, agg))
    case _ => false
  }

  private def moveAboveAggregate(agg: Aggregate): LogicalPlan = {
    val projectList = mutable.ArrayBuffer[NamedExpression]()
    val aggregateList = mutable.ArrayBuffer[NamedExpression]()
    agg.aggregateExpressions.foreach { expression =>
      if (callOverAggregate(expression, agg)) {
        val above = expression.transformDown {
          case e if belongsToAggregate(e, agg) =>
            val alias = e match {
              case named: NamedExpression => named
              case other => Alias(other, "tegridy_agg")()
            }
            aggregateList += alias
            alias.toAttribute
        }
        projectList += above.asInstanceOf[NamedExpression]
      } else {
        aggregateList += expression
        projectList += expression.toAttribute
      }
    }
    Project(projectList.toSeq, agg.copy(aggregateExpressions = aggregateList.toSeq))
  }

  // ---- step 2: calls inside grouping keys are evaluated in a Project below the aggregate ----

  private def moveGroupingBelow(agg: Aggregate): LogicalPlan = {
    val projectList = mutable.ArrayBuffer[NamedExpression]()
    val byCall = mutable.HashMap[Expression, Attribute]()
    def alias(call: TegridyStringFunction): Attribute =
      byCall.getOrElseUpdate(call.canonicalized, {
        val named = Alias(call, "tegridy_group")()
        projectList += named
        named.toAttribute
      })
    val grouping = agg.groupingExpressions.map(_.transformDown { case call: TegridyStringFunction => alias(call) })
    val aggregates = agg.aggregateExpressions.map(_.transformUp {
      case call: TegridyStringFunction if byCall.contains(call.canonicalized) => byCall(call.canonicalized)
    }.asInstanceOf[NamedExpression])
    agg.copy(groupingExpressions = grouping, aggregateExpressions = aggregates,
      child = Project(projectList.toSeq ++ agg.child.output, agg.child))
  }

  // ---- step 3: every operator's calls move into a BatchTokenize below it ----

  /** An argument a projection can evaluate on the child's rows. */
  private def movable(call: TegridyStringFunction): Boolean =
    call.deterministic && !hasCall(call.child) && !readsOuterLambda(call.child) && !call.child.exists {
      case _: AggregateExpression | _: WindowExpression | _: Generator => true
      case _: OuterReference => true
      case _ => false
    }

  /** The expression reads a lambda variable that a lambda around it binds (not one of its own). */
  private def readsOuterLambda(e: Expression): Boolean = {
    val bound = e.collect { case LambdaFunction(_, arguments, _) => arguments.collect { case v: NamedLambdaVariable => v.exprId } }.flatten.toSet
    e.exists { case v: NamedLambdaVariable => !bound.contains(v.exprId); case _ => false }
  }

  /** The operator with its movable calls in BatchTokenize nodes below it; itself when none can move. */
  private[execution] def extract(operator: LogicalPlan): LogicalPlan = {
    // Per child: the calls it will evaluate, keyed by canonical form (equal calls once).
    val pulled = operator.children.map(_ => mutable.LinkedHashMap[Expression, (TegridyStringFunction, AttributeReference)]())
    val pull: GuardedCalls.Pull = call =>
      if (!movable(call)) None
      else operator.children.indices.find(i => call.references.subsetOf(operator.children(i).outputSet)).map { i =>
        val entry = pulled(i).getOrElseUpdate(call.canonicalized,
          (call, AttributeReference(s"tegridy${pulled(i).size}", call.dataType, call.nullable)()))
        entry._2
      }
    val rewritten = operator match {
      // Each conjunct of a join condition is evaluated for the pairs the join considers, so a call
      // in one reads its side's rows unguarded by the other conjuncts (which read both sides).
      case join @ Join(_, _, _, Some(condition), _) =>
        join.copy(condition = Some(splitConjunctivePredicates(condition).map(GuardedCalls.rewrite(_, pull)).reduce(And)))
      case _ => operator.mapExpressions(GuardedCalls.rewrite(_, pull))
    }
    if (pulled.forall(_.isEmpty)) return operator // nothing could move: eval() does the work

    val newChildren = operator.children.zip(pulled).map { case (child, calls) =>
      if (calls.isEmpty) child
      else BatchTokenize(calls.values.map(_._1).toSeq, calls.values.map(_._2).toSeq, child)
    }
    val withBatches = rewritten.withNewChildren(newChildren)
    // Calls that read other calls' results are now movable: peel the next layer.
    val done = if (withBatches.expressions.exists(hasCall)) extract(withBatches) else withBatches
    // Keep the operator's output as it was (a result used only by a filter is trimmed away).
    if (done.output != operator.output) Project(operator.output, done) else done
  }
}
