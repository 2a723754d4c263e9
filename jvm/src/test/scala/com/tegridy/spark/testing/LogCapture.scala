package com.tegridy.spark.testing

import java.util.concurrent.ConcurrentLinkedQueue

import org.apache.logging.log4j.Level
import org.apache.logging.log4j.core.{LogEvent, LoggerContext}
import org.apache.logging.log4j.core.appender.AbstractAppender
import org.apache.logging.log4j.core.config.{LoggerConfig, Property}
import org.scalatest.{BeforeAndAfterAll, Suite}

/**
 * Captures every log line of the JVM (driver and, in local mode, executors) while a suite runs:
 * Spark at INFO, our code and the AWS SDK at every level (TRACE included), messages and stack
 * traces, so tests can search them for the values that passed through the functions.
 */
trait LogCapture extends BeforeAndAfterAll { self: Suite =>
  protected val captured = new ConcurrentLinkedQueue[String]()

  private val appender = new AbstractAppender("tegridy-test-capture", null, null, true, Property.EMPTY_ARRAY) {
    override def append(event: LogEvent): Unit = {
      val thrown = Option(event.getThrown).map { t =>
        val out = new java.io.StringWriter()
        t.printStackTrace(new java.io.PrintWriter(out))
        out.toString
      }.getOrElse("")
      captured.add(s"${event.getLevel} ${event.getLoggerName}: ${event.getMessage.getFormattedMessage}\n$thrown")
    }
  }

  override protected def beforeAll(): Unit = {
    val context = LoggerContext.getContext(false)
    val config = context.getConfiguration
    appender.start()
    config.getRootLogger.addAppender(appender, Level.INFO, null)
    Seq("com.tegridy", "software.amazon.awssdk").foreach { name =>
      val logger = new LoggerConfig(name, Level.ALL, false) // ours only: the console stays quiet
      logger.addAppender(appender, Level.ALL, null)
      config.addLogger(name, logger)
    }
    context.updateLoggers()
    super.beforeAll()
  }

  override protected def afterAll(): Unit = {
    try super.afterAll()
    finally {
      val context = LoggerContext.getContext(false)
      val config = context.getConfiguration
      config.getRootLogger.removeAppender(appender.getName)
      Seq("com.tegridy", "software.amazon.awssdk").foreach(config.removeLogger)
      context.updateLoggers()
      appender.stop()
    }
  }
}
