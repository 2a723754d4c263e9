package com.tegridy.spark

import java.nio.charset.StandardCharsets
import java.util.zip.ZipFile

import org.scalatest.funsuite.AnyFunSuite

/**
 * The assembled jar holds our classes, the relocated copies of what we bundle (the AWS SDK,
 * Caffeine) and no unshaded copy of anything Spark or a cluster's own AWS SDK also ships.
 */
class JarContentsSuite extends AnyFunSuite {
  private val ServicesFolder = "META-INF/services/"
  /** Every entry's name, in the jar's order. */
  private lazy val entries: Seq[String] = jar._1
  /** The bytes of the classes and service files: what the tests search. */
  private lazy val contents: Map[String, Array[Byte]] = jar._2
  private lazy val jar: (Seq[String], Map[String, Array[Byte]]) = {
    val path = sys.props.getOrElse("tegridy.assembly.jar", fail("-Dtegridy.assembly.jar is not set (run through sbt)"))
    val file = new java.io.File(path)
    assert(file.isFile, s"$path does not exist: run `build/sbt spark/assembly` (make test does) first")
    val zip = new ZipFile(file)
    try {
      val all = java.util.Collections.list(zip.entries()).toArray(Array.empty[java.util.zip.ZipEntry]).toSeq
      val read = all.filter(e => e.getName.endsWith(".class") || e.getName.startsWith(ServicesFolder))
        .map(e => e.getName -> readAll(zip.getInputStream(e)))
      (all.map(_.getName), read.toMap)
    } finally zip.close()
  }

  // Ours in Spark's packages, for its private[spark] and private[sql] APIs (SparkInternals, SessionFunctions).
  private val OursInSparksPackages = Seq("org/apache/spark/tegridy/", "org/apache/spark/sql/tegridy/")
  private val UnrelocatedSdk = Seq("software/amazon/", "software.amazon.")

  private def readAll(in: java.io.InputStream): Array[Byte] = try in.readAllBytes() finally in.close()

  test("the extension, functions, client and runtime are in the jar, the AWS SDK relocated") {
    Seq("com/tegridy/spark/TegridyExtensions.class", "com/tegridy/spark/TegridyRegistration.class",
      "com/tegridy/spark/expressions/TegridyTokenizeExpression.class",
      "com/tegridy/spark/client/LambdaInvoker.class",
      "com/tegridy/shaded/awssdk/services/lambda/LambdaClient.class",
      "com/tegridy/shaded/awssdk/http/urlconnection/UrlConnectionHttpClient.class",
      "com/tegridy/shaded/eventstream/Message.class").foreach { name =>
      assert(entries.contains(name), name)
    }
  }

  test("every class is ours or relocated under com/tegridy/") {
    val outside = entries.filter(e => e.endsWith(".class") && !e.startsWith("com/tegridy/") && !OursInSparksPackages.exists(e.startsWith))
    assert(outside.isEmpty, outside.take(10).mkString(", "))
    assert(entries.exists(_.startsWith("com/tegridy/shaded/caffeine/")))
  }

  test("no AWS SDK class or resource is left at its old path") {
    val left = entries.filter(e => UnrelocatedSdk.exists(e.contains))
    assert(left.isEmpty, left.take(10).mkString(", "))
    // The resources the SDK reads at run time moved with it.
    assert(entries.contains("com/tegridy/shaded/awssdk/core/util/mime.types"))
  }

  test("no class refers to, or looks up by name or path, anything under the SDK's old package") {
    // Whole constants only: class references and descriptors, and the strings the SDK builds its
    // classpath lookups from (execution.interceptors files, partitions.json, mime.types, the HTTP
    // service and credential-provider classes it loads by name). Messages and Maven coordinates
    // that mention the SDK ("Add dependency on 'software.amazon.awssdk.crt:aws-crt'") are text.
    val oldName = "(/?software[./]amazon[./][\\w./$-]*)|(.*Lsoftware/amazon/.*)".r
    val naming = contents.toSeq.collect { case (name, bytes) if name.endsWith(".class") =>
      name -> ClassConstants.utf8(bytes).filter(c => oldName.pattern.matcher(c).matches())
    }.filter(_._2.nonEmpty)
    assert(naming.isEmpty, naming.take(5).map { case (n, c) => s"$n: ${c.take(3).mkString(", ")}" }.mkString("; "))
    val interceptors = contents("com/tegridy/shaded/awssdk/core/interceptor/ClasspathInterceptorChainFactory.class")
    assert(ClassConstants.utf8(interceptors).contains("com/tegridy/shaded/awssdk/global/handlers/execution.interceptors"))
    val lambdaBuilder = contents("com/tegridy/shaded/awssdk/services/lambda/DefaultLambdaBaseClientBuilder.class")
    assert(ClassConstants.utf8(lambdaBuilder).contains("com/tegridy/shaded/awssdk/services/lambda/execution.interceptors"))
  }

  test("service files are named for relocated interfaces and name relocated classes that are in the jar") {
    val services = contents.keys.filter(n => n.startsWith(ServicesFolder) && n.length > ServicesFolder.length).toSeq
    assert(services.contains(ServicesFolder + "com.tegridy.shaded.awssdk.http.SdkHttpService"), services.mkString(", "))
    services.foreach { service =>
      val interface = service.stripPrefix(ServicesFolder)
      assert(entries.contains(interface.replace('.', '/') + ".class"), s"$service names an interface the jar lacks")
      val providers = new String(contents(service), StandardCharsets.UTF_8).split("\n").map(_.split("#")(0).trim).filter(_.nonEmpty)
      assert(providers.nonEmpty, s"$service is empty")
      providers.foreach(p => assert(entries.contains(p.replace('.', '/') + ".class"), s"$service names $p, not in the jar"))
    }
  }

  test("no unshaded package that Spark also ships") {
    val forbidden = Seq("io/netty/", "org/apache/http/", "org/apache/hc/", "com/fasterxml/jackson/", "scala/",
      "org/slf4j/", "org/apache/commons/", "org/apache/log4j/", "com/google/common/")
    val clashes = entries.filter(e => forbidden.exists(e.startsWith))
    assert(clashes.isEmpty, clashes.take(10).mkString(", "))
  }
}

/** The text constants of a class file (JVMS 4.4): names, descriptors and string literals. */
private object ClassConstants {
  def utf8(classFile: Array[Byte]): Seq[String] = {
    val in = new java.io.DataInputStream(new java.io.ByteArrayInputStream(classFile))
    in.skipBytes(8) // magic, minor and major version
    val count = in.readUnsignedShort()
    val texts = Seq.newBuilder[String]
    var index = 1
    while (index < count) {
      in.readUnsignedByte() match {
        case 1 => texts += in.readUTF()
        case 5 | 6 => in.skipBytes(8); index += 1 // a long or double takes two slots
        case 7 | 8 | 16 | 19 | 20 => in.skipBytes(2)
        case 15 => in.skipBytes(3)
        case 3 | 4 | 9 | 10 | 11 | 12 | 17 | 18 => in.skipBytes(4)
        case tag => throw new IllegalArgumentException(s"unknown constant pool tag $tag")
      }
      index += 1
    }
    texts.result()
  }
}
