package com.tegridy.spark

import org.apache.spark.sql.{SparkSession, SparkSessionExtensions}
import org.apache.spark.sql.tegridy.SessionFunctions

import com.tegridy.spark.config.SparkSqlConfs
import com.tegridy.spark.execution.{BatchTokenizeStrategy, ExtractTokenCalls, ShieldLocalRows}
import com.tegridy.spark.shims.ClassicSession

/**
 * The single entry point for `spark.sql.extensions=com.tegridy.spark.TegridyExtensions`: every
 * injection this library makes, in one place.
 */
class TegridyExtensions extends (SparkSessionExtensions => Unit) {
  override def apply(extensions: SparkSessionExtensions): Unit = {
    SparkLineCheck.requireRunning()
    // The settings as Spark SQL confs, so that views capture them with the rest of their confs.
    SparkSqlConfs.register()
    // The SQL functions, under their contract names and the seed-001 aliases; also as built-ins,
    // so that persistent views may call them.
    TegridyFunctions.all.foreach { function =>
      extensions.injectFunction((function.identifier, function.info, function.builder))
    }
    TegridyFunctions.registerAsBuiltins()
    extensions.injectTableFunction((TegridyFunctions.MetricsTable.identifier, TegridyFunctions.MetricsTable.info,
      TegridyFunctions.MetricsTable.build _))
    // Keeps Spark from evaluating calls over VALUES at planning time (EXPLAIN must not call the service).
    extensions.injectPostHocResolutionRule(_ => ShieldLocalRows)
    // Pulls the calls out of their operators into BatchTokenize nodes. A pre-CBO rule runs once,
    // after the operator optimizations (filters already pushed down, projections collapsed)
    // and before join reordering, so the batches sit where the fewest rows reach them.
    extensions.injectPreCBORule(_ => ExtractTokenCalls)
    // Plans BatchTokenize as BatchTokenizeExec, and batches what later rewrites left in operators.
    extensions.injectPlannerStrategy(BatchTokenizeStrategy)
  }
}

/**
 * Registration on a session that is already running (Python's `tegridy_tokens.register`):
 * the functions, plus the rules and strategy through the session's experimental hooks, which
 * are the only ones a running session still accepts.
 */
object TegridyRegistration {
  def register(session: SparkSession): Unit = {
    SparkLineCheck.requireRunning(session.version)
    SparkSqlConfs.register()
    val classic = ClassicSession(session)
    SessionFunctions.register(classic.sessionState.functionRegistry, classic.sessionState.tableFunctionRegistry,
      TegridyFunctions.all.map(function => (function.identifier, function.info, function.builder)),
      Seq((TegridyFunctions.MetricsTable.identifier, TegridyFunctions.MetricsTable.info, TegridyFunctions.MetricsTable.build _)))
    TegridyFunctions.registerAsBuiltins()
    val experimental = classic.experimental
    if (!experimental.extraOptimizations.contains(ExtractTokenCalls)) {
      experimental.extraOptimizations = experimental.extraOptimizations :+ ExtractTokenCalls
    }
    if (!experimental.extraStrategies.exists(_.isInstanceOf[BatchTokenizeStrategy])) {
      experimental.extraStrategies = experimental.extraStrategies :+ BatchTokenizeStrategy(session)
    }
  }
}
