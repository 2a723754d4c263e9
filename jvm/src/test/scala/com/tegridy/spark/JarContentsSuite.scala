package com.tegridy.spark

import java.util.zip.ZipFile

import scala.jdk.CollectionConverters._

import org.scalatest.funsuite.AnyFunSuite

/** The assembled jar holds our classes and no unshaded copy of anything Spark also ships. */
class JarContentsSuite extends AnyFunSuite {
  private lazy val entries: Seq[String] = {
    val path = sys.props.getOrElse("tegridy.assembly.jar", fail("-Dtegridy.assembly.jar is not set (run through sbt)"))
    val file = new java.io.File(path)
    assert(file.isFile, s"$path does not exist: run `build/sbt spark/assembly` (make test does) first")
    val zip = new ZipFile(file)
    try zip.entries().asScala.map(_.getName).toList finally zip.close()
  }

  test("the extension, functions, client and runtime are in the jar") {
    Seq("com/tegridy/spark/TegridyExtensions.class", "com/tegridy/spark/TegridyRegistration.class",
      "com/tegridy/spark/expressions/TegridyTokenizeExpression.class",
      "com/tegridy/spark/client/LambdaInvoker.class",
      "software/amazon/awssdk/services/lambda/LambdaClient.class",
      "software/amazon/awssdk/http/urlconnection/UrlConnectionHttpClient.class").foreach { name =>
      assert(entries.contains(name), name)
    }
  }

  test("Caffeine is relocated") {
    assert(entries.exists(_.startsWith("com/tegridy/shaded/caffeine/")))
    assert(!entries.exists(_.startsWith("com/github/benmanes/")))
  }

  test("no unshaded package that Spark also ships") {
    val forbidden = Seq("io/netty/", "org/apache/http/", "org/apache/hc/", "com/fasterxml/jackson/", "scala/",
      "org/slf4j/", "org/apache/commons/", "org/apache/log4j/", "com/google/common/")
    val clashes = entries.filter(e => forbidden.exists(e.startsWith))
    assert(clashes.isEmpty, clashes.take(10).mkString(", "))
  }
}
