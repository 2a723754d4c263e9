package com.tegridy.spark.execution

import scala.collection.mutable

import org.apache.spark.sql.catalyst.expressions._
import org.apache.spark.sql.types.{ArrayType, StructType}

import com.tegridy.spark.execution.GuardedCalls.hasCall
import com.tegridy.spark.expressions.TegridyStringFunction

/**
 * Turns calls inside a lambda into the array form, which batches: a call whose argument reads the
 * lambda's element only (and columns of the row) is made once over the whole array,
 * `tegridy_tokenize_hp(transform(arr, x -> f(x)))`, and the lambda reads each element's token
 * beside the element (`arrays_zip`). Covers transform, filter, exists, forall and aggregate over
 * arrays, and transform_values and transform_keys over maps (over the map's entries).
 *
 * A call under a condition in the lambda carries its guard (GuardedCalls), so the array form
 * sends only the elements the lambda would have called for. A call whose argument or guard reads
 * another lambda variable (aggregate's accumulator, an index, an outer lambda's element) stays.
 */
object BatchLambdas {
  val rewrite: PartialFunction[Expression, Expression] = {
    // The simplest form needs no zip: the call over the array itself.
    case ArrayTransform(array, LambdaFunction(call: TegridyStringFunction, Seq(element: NamedLambdaVariable), _))
        if batchable(call, element) =>
      val elements = call.child match {
        case variable: NamedLambdaVariable if variable.exprId == element.exprId => array
        case body => ArrayTransform(array, LambdaFunction(body, Seq(element)))
      }
      call.withNewChildren(Seq(elements))
    case t @ ArrayTransform(array, f @ LambdaFunction(_, (element: NamedLambdaVariable) +: _, _)) if hoistable(array, f, element) =>
      overArray(array, f, element)((zipped, fn) => t.copy(argument = zipped, function = fn))
    case h @ ArrayFilter(array, f @ LambdaFunction(_, (element: NamedLambdaVariable) +: _, _)) if hoistable(array, f, element) =>
      overArray(array, f, element) { (zipped, fn) =>
        val s = NamedLambdaVariable("s", zipped.dataType.asInstanceOf[ArrayType].elementType, nullable = false)
        ArrayTransform(h.copy(argument = zipped, function = fn), LambdaFunction(GetStructField(s, 0), Seq(s)))
      }
    case h @ ArrayExists(array, f @ LambdaFunction(_, Seq(element: NamedLambdaVariable), _), _) if hoistable(array, f, element) =>
      overArray(array, f, element)((zipped, fn) => h.copy(argument = zipped, function = fn))
    case h @ ArrayForAll(array, f @ LambdaFunction(_, Seq(element: NamedLambdaVariable), _)) if hoistable(array, f, element) =>
      overArray(array, f, element)((zipped, fn) => h.copy(argument = zipped, function = fn))
    case h @ ArrayAggregate(array, _, f @ LambdaFunction(_, Seq(_, element: NamedLambdaVariable), _), _)
        if hoistable(array, f, element) =>
      overArray(array, f, element)((zipped, fn) => h.copy(argument = zipped, merge = fn))
    case h @ TransformValues(map, f @ LambdaFunction(_, Seq(key: NamedLambdaVariable, value: NamedLambdaVariable), _))
        if hoistableOverMap(map, f, key, value) =>
      MapFromArrays(MapKeys(map), overEntries(map, f, key, value))
    case h @ TransformKeys(map, f @ LambdaFunction(_, Seq(key: NamedLambdaVariable, value: NamedLambdaVariable), _))
        if hoistableOverMap(map, f, key, value) =>
      MapFromArrays(overEntries(map, f, key, value), MapValues(map))
  }

  private def batchable(call: TegridyStringFunction, element: NamedLambdaVariable): Boolean =
    !call.overArray && !call.perRowErrors && call.deterministic && !hasCall(call.child) && readsOnly(call.child, Set(element.exprId))

  /** The lambda variables an expression reads are among `allowed`. */
  private def readsOnly(e: Expression, allowed: Set[ExprId]): Boolean =
    e.collect { case v: NamedLambdaVariable => v.exprId }.forall(allowed.contains)

  /**
   * The lambda's body with each call that can be made over the whole collection replaced by a
   * placeholder; the calls (guards folded in) in order, each with its placeholder.
   */
  private def hoisted(f: LambdaFunction, allowed: Set[ExprId]): (Expression, Seq[(TegridyStringFunction, ExprId)]) = {
    val calls = mutable.ArrayBuffer[(TegridyStringFunction, ExprId)]()
    val body = GuardedCalls.rewrite(f.function, call =>
      if (!call.overArray && !call.perRowErrors && call.deterministic && !hasCall(call.child) && readsOnly(call.child, allowed)) {
        val placeholder = AttributeReference("tegridy_element", call.dataType, nullable = true)()
        calls += call -> placeholder.exprId
        Some(placeholder)
      } else None)
    (body, calls.toSeq)
  }

  /** Field i of the zipped struct for the i-th placeholder (field 0 is the element). */
  private def fromPlaceholders(body: Expression, calls: Seq[(TegridyStringFunction, ExprId)], s: Expression): Expression = {
    val field = calls.map(_._2).zipWithIndex.map { case (id, i) => id -> (i + 1) }.toMap
    body.transform { case a: AttributeReference if field.contains(a.exprId) => GetStructField(s, field(a.exprId)) }
  }

  private def hoistable(array: Expression, f: LambdaFunction, element: NamedLambdaVariable): Boolean =
    array.deterministic && hasCall(f.function) && hoisted(f, Set(element.exprId))._2.nonEmpty

  private def hoistableOverMap(map: Expression, f: LambdaFunction, key: NamedLambdaVariable, value: NamedLambdaVariable): Boolean =
    map.deterministic && hasCall(f.function) && hoisted(f, Set(key.exprId, value.exprId))._2.nonEmpty

  /**
   * The lambda over `arrays_zip(array, tokens1, ...)`: each hoisted call becomes one array-form call over
   * the elements, and the body reads field 0 for the element and field i for the i-th call's result.
   */
  private def overArray(array: Expression, f: LambdaFunction, element: NamedLambdaVariable)
      (build: (Expression, LambdaFunction) => Expression): Expression = {
    val (body, calls) = hoisted(f, Set(element.exprId))
    val tokens = calls.map { case (call, _) => call.withNewChildren(Seq(ArrayTransform(array, LambdaFunction(call.child, Seq(element))))) }
    val zipped = new ArraysZip(array +: tokens)
    val s = NamedLambdaVariable("s", zipped.dataType.asInstanceOf[ArrayType].elementType, nullable = false)
    val newBody = fromPlaceholders(body, calls, s).transform {
      case v: NamedLambdaVariable if v.exprId == element.exprId => GetStructField(s, 0)
    }
    build(zipped, LambdaFunction(newBody, f.arguments.map {
      case v: NamedLambdaVariable if v.exprId == element.exprId => s
      case other => other
    }))
  }

  /** The new values (or keys) of a map: the lambda over the map's entries zipped with the hoisted calls' results. */
  private def overEntries(map: Expression, f: LambdaFunction, key: NamedLambdaVariable, value: NamedLambdaVariable): Expression = {
    val (body, calls) = hoisted(f, Set(key.exprId, value.exprId))
    val entries = MapEntries(map)
    val entryType = entries.dataType.asInstanceOf[ArrayType].elementType.asInstanceOf[StructType]
    val e = NamedLambdaVariable("e", entryType, nullable = false)
    def fromEntry(x: Expression, entry: Expression): Expression = x.transform {
      case v: NamedLambdaVariable if v.exprId == key.exprId => GetStructField(entry, 0)
      case v: NamedLambdaVariable if v.exprId == value.exprId => GetStructField(entry, 1)
    }
    val tokens = calls.map { case (call, _) => call.withNewChildren(Seq(ArrayTransform(entries, LambdaFunction(fromEntry(call.child, e), Seq(e))))) }
    val zipped = new ArraysZip(entries +: tokens)
    val s = NamedLambdaVariable("s", zipped.dataType.asInstanceOf[ArrayType].elementType, nullable = false)
    val newBody = fromPlaceholders(fromEntry(body, GetStructField(s, 0)), calls, s)
    ArrayTransform(zipped, LambdaFunction(newBody, Seq(s)))
  }
}
