package org.apache.spark.sql.tegridy

import org.apache.spark.sql.SparkSessionExtensions
import org.apache.spark.sql.catalyst.FunctionIdentifier
import org.apache.spark.sql.catalyst.analysis.{FunctionRegistry, TableFunctionRegistry}
import org.apache.spark.sql.catalyst.expressions.{Expression, ExpressionInfo}
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan

/**
 * Registers functions on a running session exactly as `spark.sql.extensions` does at session start,
 * through SparkSessionExtensions' own `private[sql]` registration (hence this package): how a bare
 * name is keyed differs by Spark line (4.2 keys it as `system.builtin.NAME` and refuses a bare one),
 * and this way it is always Spark's own rule.
 */
object SessionFunctions {
  def register(
      functionRegistry: FunctionRegistry,
      tableFunctionRegistry: TableFunctionRegistry,
      functions: Seq[(FunctionIdentifier, ExpressionInfo, Seq[Expression] => Expression)],
      tableFunctions: Seq[(FunctionIdentifier, ExpressionInfo, Seq[Expression] => LogicalPlan)]): Unit = {
    val extensions = new SparkSessionExtensions
    functions.foreach(extensions.injectFunction)
    tableFunctions.foreach(extensions.injectTableFunction)
    extensions.registerFunctions(functionRegistry)
    extensions.registerTableFunctions(tableFunctionRegistry)
  }
}
