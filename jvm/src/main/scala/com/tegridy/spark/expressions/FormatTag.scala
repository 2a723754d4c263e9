package com.tegridy.spark.expressions

import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.analysis.TypeCheckResult
import org.apache.spark.sql.catalyst.expressions.{BinaryExpression, Expression}
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback
import org.apache.spark.sql.types.{DataType, StringType}
import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.client.FormattedValue
import com.tegridy.spark.runtime.BlankValues

/**
 * The argument of a formatted call, `tegridy_tokenize_hp(value, format)`: the value as a lookup
 * key that carries its format (client/FormattedValue), so that batching, the cache and
 * single-flight keep formats apart. NULL stays NULL and a blank value stays itself (never sent);
 * a NULL format is the default. The format may differ per row; an unknown one fails the query,
 * naming it and the known ones (never the value).
 */
case class FormatTag(value: Expression, format: Expression) extends BinaryExpression with CodegenFallback {
  override def left: Expression = value
  override def right: Expression = format
  override def dataType: DataType = StringType
  override def nullable: Boolean = true
  override def prettyName: String = "format"

  override def checkInputDataTypes(): TypeCheckResult = (value.dataType, format.dataType) match {
    case (_: StringType, _: StringType) => TypeCheckResult.TypeCheckSuccess
    case (v, f) => TypeCheckResult.TypeCheckFailure(
      s"a formatted token function takes (STRING value, STRING format), but got (${v.sql}, ${f.sql})")
  }

  override def eval(input: InternalRow): Any = {
    val v = value.eval(input).asInstanceOf[UTF8String]
    if (v == null || BlankValues.isBlank(v)) return v
    val f = format.eval(input).asInstanceOf[UTF8String]
    val name = if (f == null) FormattedValue.Default else f.toString.trim.toLowerCase(java.util.Locale.ROOT)
    if (!FormattedValue.Known.contains(name)) {
      throw new IllegalArgumentException(s"unknown token format '$name'; known formats are ${FormattedValue.Known.mkString(", ")}")
    }
    if (name == FormattedValue.Default) v else UTF8String.fromString(FormattedValue.encode(name, v.toString))
  }

  override protected def withNewChildrenInternal(newLeft: Expression, newRight: Expression): FormatTag =
    copy(value = newLeft, format = newRight)
}
