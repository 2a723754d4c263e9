package com.tegridy.spark

import org.apache.spark.sql.{SparkSession, SparkSessionExtensions}
import org.apache.spark.sql.classic.{SparkSession => ClassicSparkSession}

import com.tegridy.spark.execution.{BatchTokenizeStrategy, ExtractTokenCalls}

/**
 * The single entry point for `spark.sql.extensions=com.tegridy.spark.TegridyExtensions`: every
 * injection this library makes, in one place.
 */
class TegridyExtensions extends (SparkSessionExtensions => Unit) {
  override def apply(extensions: SparkSessionExtensions): Unit = {
    // The SQL functions, under their contract names and the seed-001 aliases.
    TegridyFunctions.all.foreach { function =>
      extensions.injectFunction((function.identifier, function.info, function.builder))
    }
    // Pulls the calls out of their operators into BatchTokenize nodes. A pre-CBO rule runs once,
    // after the operator optimizations (filters already pushed down, projections collapsed)
    // and before join reordering, so the batches sit where the fewest rows reach them.
    extensions.injectPreCBORule(_ => ExtractTokenCalls)
    // Plans BatchTokenize as BatchTokenizeExec.
    extensions.injectPlannerStrategy(BatchTokenizeStrategy)
  }
}

/**
 * Registration on a session that is already running (Python's `tegridy_tokens.register`):
 * the functions, plus the rule and strategy through the session's experimental hooks, which
 * are the only ones a running session still accepts.
 */
object TegridyRegistration {
  def register(session: SparkSession): Unit = {
    val classic = session.asInstanceOf[ClassicSparkSession]
    val registry = classic.sessionState.functionRegistry
    TegridyFunctions.all.foreach { function =>
      registry.registerFunction(function.identifier, function.info, function.builder)
    }
    val experimental = classic.experimental
    if (!experimental.extraOptimizations.contains(ExtractTokenCalls)) {
      experimental.extraOptimizations = experimental.extraOptimizations :+ ExtractTokenCalls
    }
    if (!experimental.extraStrategies.exists(_.isInstanceOf[BatchTokenizeStrategy])) {
      experimental.extraStrategies = experimental.extraStrategies :+ BatchTokenizeStrategy(session)
    }
  }
}
