package com.tegridy.spark

import org.apache.spark.sql.{SparkSession, SparkSessionExtensions}
import org.apache.spark.sql.classic.{SparkSession => ClassicSparkSession}

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
  }
}

/** Registration on a session that is already running (Python's `tegridy_tokens.register`). */
object TegridyRegistration {
  def register(session: SparkSession): Unit = {
    val registry = session.asInstanceOf[ClassicSparkSession].sessionState.functionRegistry
    TegridyFunctions.all.foreach { function =>
      registry.registerFunction(function.identifier, function.info, function.builder)
    }
  }
}
