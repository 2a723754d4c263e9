package com.tegridy.spark.execution

import org.apache.spark.sql.catalyst.expressions._

import com.tegridy.spark.expressions.TegridyStringFunction

/**
 * Rewrites one expression tree, offering each token-function call, together with the condition
 * under which Spark would evaluate it (its guard), to `pull`. A call that `pull` takes is
 * replaced by the attribute it returns.
 *
 * Guards are what keep untaken branches unsent: `CASE WHEN pii THEN tegridy_tokenize_hp(email)
 * ELSE email END` offers `tegridy_tokenize_hp(IF(pii <=> true, email, NULL))`, and a NULL is never
 * sent. Guards follow Spark's own lazy evaluation: CASE WHEN and IF branches, COALESCE (and NVL,
 * IFNULL, which the optimizer has turned into COALESCE) after its first argument, the right side
 * of AND / OR. Under any other conditional expression only its always-evaluated inputs are
 * offered; the rest stay in place and are evaluated row by row, lazily, as Spark would.
 */
object GuardedCalls {
  /** Offered a call with its guard folded into its argument; Some(attribute) to replace it. */
  type Pull = TegridyStringFunction => Option[Attribute]

  def rewrite(expression: Expression, pull: Pull): Expression = visit(expression, None, pull)

  /** True if the tree holds a token-function call anywhere. */
  def hasCall(expression: Expression): Boolean = expression.exists(_.isInstanceOf[TegridyStringFunction])

  private def visit(e: Expression, guard: Option[Expression], pull: Pull): Expression = e match {
    case call: TegridyStringFunction if !hasCall(call.child) =>
      pull(guarded(call, guard)).getOrElse(call)
    case call: TegridyStringFunction =>
      call.withNewChildren(Seq(visit(call.child, guard, pull)))

    case If(predicate, whenTrue, whenFalse) =>
      If(visit(predicate, guard, pull),
        visit(whenTrue, and(guard, isTrue(predicate)), pull),
        visit(whenFalse, and(guard, Not(isTrue(predicate))), pull))

    case CaseWhen(branches, elseValue) =>
      var reached = guard // the guard under which this condition is evaluated
      val newBranches = branches.map { case (condition, value) =>
        val newCondition = visit(condition, reached, pull)
        val newValue = visit(value, and(reached, isTrue(condition)), pull)
        reached = and(reached, Not(isTrue(condition)))
        (newCondition, newValue)
      }
      CaseWhen(newBranches, elseValue.map(visit(_, reached, pull)))

    case Coalesce(children) =>
      var reached = guard
      Coalesce(children.map { child =>
        val newChild = visit(child, reached, pull)
        reached = and(reached, IsNull(child))
        newChild
      })

    // Spark skips the right side when the left side alone decides.
    case And(left, right) =>
      And(visit(left, guard, pull), visit(right, and(guard, Not(EqualNullSafe(left, Literal.FalseLiteral))), pull))
    case Or(left, right) =>
      Or(visit(left, guard, pull), visit(right, and(guard, Not(EqualNullSafe(left, Literal.TrueLiteral))), pull))

    case conditional: ConditionalExpression =>
      val always = conditional.alwaysEvaluatedInputs.toSet
      conditional.mapChildren(child => if (always.exists(_ eq child)) visit(child, guard, pull) else child)

    case other => other.mapChildren(visit(_, guard, pull))
  }

  private def isTrue(condition: Expression): Expression = EqualNullSafe(condition, Literal.TrueLiteral)

  private def and(guard: Option[Expression], condition: Expression): Option[Expression] =
    Some(guard.map(And(_, condition)).getOrElse(condition))

  private def guarded(call: TegridyStringFunction, guard: Option[Expression]): TegridyStringFunction = guard match {
    case None => call
    case Some(condition) =>
      call.withNewChildren(Seq(If(condition, call.child, Literal.create(null, call.child.dataType))))
        .asInstanceOf[TegridyStringFunction]
  }
}
