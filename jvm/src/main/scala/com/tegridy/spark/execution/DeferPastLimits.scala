package com.tegridy.spark.execution

import org.apache.spark.sql.catalyst.expressions.{Attribute, AttributeSet}
import org.apache.spark.sql.catalyst.plans.logical._

/**
 * Moves the calls of a query that keeps only some rows above what keeps them: a [[BatchTokenize]]
 * under a LIMIT (through sorts, windows, filters and projections that never read its results)
 * is lifted above the LIMIT, and one under a window's group limit (`WHERE row_number() <= N`)
 * above the filter on the window. Then `ORDER BY v LIMIT 10` (TakeOrderedAndProject), a LIMIT
 * over `row_number()`, and a LIMIT read by `execute()` (Arrow's toPandas, Spark Connect, where
 * every partition reads its first N rows) call the service for the N rows kept only.
 *
 * A sort key, filter or window that reads a call's result keeps the call below it: every row is
 * then tokenized, as the sort needs every token. Projections are split: the columns computed from
 * call results are computed above, the others below.
 */
object DeferPastLimits {
  /**
   * A lifted chain: `below` is the chain without the calls, `above` puts them (and the columns
   * computed from them) back over a plan with `below`'s columns, passing its columns through;
   * `produced` are the columns made above, `needs` the columns of `below` that `above` reads;
   * `reorders`: the chain sorts or numbers rows (so every row below is read whatever the limit).
   */
  private case class Lifted(below: LogicalPlan, above: LogicalPlan => LogicalPlan, produced: AttributeSet,
      needs: AttributeSet, reorders: Boolean = false)

  def apply(plan: LogicalPlan): LogicalPlan = plan.transformDown { case node => lifted(node).getOrElse(node) }

  /**
   * The node with the calls below it lifted above it, if it keeps only some rows (a LIMIT, or a filter
   * on a window with a group limit) and has calls below to lift. BatchTokenizeStrategy asks too: Spark
   * infers a window's limit (`WHERE row_number() <= N`) after the optimizer rules it lets us add.
   */
  def lifted(node: LogicalPlan): Option[LogicalPlan] = node match {
    // A plain LIMIT that still calls below it is left as it is: lifted, it would run those calls in
    // every partition at once, where collect() reads one partition, then more only if needed.
    case limit @ GlobalLimit(n, local @ LocalLimit(m, child)) if n == m =>
      lift(child).filter(l => l.reorders || !l.below.exists(_.isInstanceOf[BatchTokenize]))
        .map(l => Project(limit.output, l.above(limit.copy(child = local.copy(child = l.below)))))
    case filter @ Filter(_, window: Window) if window.exists(_.isInstanceOf[WindowGroupLimit]) =>
      lift(window).map(l => Project(filter.output, l.above(filter.copy(child = l.below))))
    case _ => None
  }

  private def lift(plan: LogicalPlan): Option[Lifted] = plan match {
    case batch @ BatchTokenize(calls, resultAttrs, child, _) =>
      val inner = lift(child)
      val produced = inner.fold(AttributeSet.empty)(_.produced)
      val reads = AttributeSet(calls.flatMap(_.references)) -- produced
      Some(Lifted(inner.fold(child)(_.below),
        below => batch.copy(child = inner.fold(below)(_.above(below))),
        produced ++ AttributeSet(resultAttrs), inner.fold(reads)(_.needs ++ reads), inner.exists(_.reorders)))

    case Project(projectList, child) => lift(child).flatMap { l =>
      val (deferred, kept) = projectList.partition(_.references.intersect(l.produced).nonEmpty)
      if (!deferred.forall(_.deterministic)) None
      else {
        val needs = l.needs ++ (AttributeSet(deferred.flatMap(_.references)) -- l.produced)
        val keptOutput = AttributeSet(kept.map(_.toAttribute))
        val below = Project(kept ++ needs.toSeq.filterNot(keptOutput.contains), l.below)
        Some(Lifted(below, x => {
          val y = l.above(x)
          Project(y.output ++ deferred.filterNot(e => e.isInstanceOf[Attribute] && y.outputSet.contains(e.toAttribute)), y)
        }, l.produced ++ AttributeSet(deferred.map(_.toAttribute)), needs, l.reorders))
      }
    }

    // Operators that only drop, order or number rows: they may move below the calls if they read no result.
    case _: Sort | _: Filter | _: Window | _: WindowGroupLimit | _: LocalLimit | _: GlobalLimit =>
      lift(plan.children.head).filter(l => plan.expressions.forall(_.references.intersect(l.produced).isEmpty))
        .map(l => l.copy(below = plan.withNewChildren(Seq(l.below)),
          reorders = l.reorders || !(plan.isInstanceOf[Filter] || plan.isInstanceOf[LocalLimit] || plan.isInstanceOf[GlobalLimit])))

    case _ => None
  }
}
