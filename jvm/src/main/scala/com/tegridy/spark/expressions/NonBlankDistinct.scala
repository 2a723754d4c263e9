package com.tegridy.spark.expressions

import scala.collection.mutable

import org.apache.spark.sql.catalyst.analysis.TypeCheckResult
import org.apache.spark.sql.catalyst.expressions.{Expression, UnaryExpression}
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback
import org.apache.spark.sql.catalyst.util.{ArrayData, GenericArrayData}
import org.apache.spark.sql.types.{ArrayType, DataType, StringType}
import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.runtime.BlankValues

/**
 * The distinct elements of an ARRAY<STRING> that are neither NULL nor blank, in first-seen
 * order: the keys of `tegridy_tokenize_map`, whose values are the same array tokenized.
 */
case class NonBlankDistinct(child: Expression) extends UnaryExpression with CodegenFallback {
  override def checkInputDataTypes(): TypeCheckResult = child.dataType match {
    case ArrayType(_: StringType, _) => TypeCheckResult.TypeCheckSuccess
    case other => TypeCheckResult.TypeCheckFailure(s"tegridy_tokenize_map takes an ARRAY<STRING>, but got ${other.sql}")
  }
  override def dataType: DataType = ArrayType(StringType, containsNull = false)
  override def prettyName: String = "non_blank_distinct"

  override protected def nullSafeEval(input: Any): Any = {
    val array = input.asInstanceOf[ArrayData]
    val seen = mutable.LinkedHashSet[UTF8String]()
    var i = 0
    while (i < array.numElements()) {
      if (!array.isNullAt(i)) {
        val value = array.getUTF8String(i)
        if (!BlankValues.isBlank(value)) seen += value.clone()
      }
      i += 1
    }
    new GenericArrayData(seen.toArray[Any])
  }

  override protected def withNewChildInternal(newChild: Expression): NonBlankDistinct = copy(child = newChild)
}
