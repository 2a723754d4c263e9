package com.tegridy.spark.config

import scala.util.control.NonFatal

import org.apache.spark.sql.internal.SQLConf

/**
 * Registers every `spark.tegridy.*` setting as a Spark SQL conf. Spark captures only registered
 * confs when it creates a view and analyses the view with those alone, so without this a view
 * that calls our functions loses its settings ("functionName is not set"). Registered confs are
 * also checked when they are set (`SET spark.tegridy.batch.maxRows=0` fails at once).
 */
object SparkSqlConfs {
  private lazy val registered: Unit = Settings.all.foreach { setting =>
    try {
      SQLConf.buildConf(setting.key)
        .doc(s"${setting.doc} (default ${setting.defaultText}; Python: ${setting.python})")
        .version("0.1.0")
        .stringConf
        .checkValue(text => text.trim.isEmpty || setting.parse(text.trim).isRight,
          s"${setting.key} must be ${setting.accepts}")
        .createOptional
    } catch {
      // Already registered in this JVM (the jar loaded twice, e.g. by another class loader).
      case NonFatal(_) =>
    }
  }

  /** Idempotent; called wherever the library is loaded into a session. */
  def register(): Unit = registered
}
