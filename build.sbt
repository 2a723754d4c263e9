// The JVM engine: one subproject in jvm/, assembled into one shaded jar that the Python wheel carries.
//
// Spark is `provided` and pinned to the same version as pyspark in pyproject.toml (see
// docs/build.md for why 4.0.4). Everything Spark already ships (Scala, Jackson, slf4j, netty,
// Apache httpclient) stays out of the jar; what we add and Spark might also carry is relocated.

val sparkVersion = "4.0.4"      // keep equal to pyspark's pin in pyproject.toml
val awsSdkVersion = "2.31.78"
val caffeineVersion = "3.2.3"

ThisBuild / organization := "com.tegridy"
ThisBuild / version := "0.1.0"
ThisBuild / scalaVersion := "2.13.16" // Spark 4.0.4's own Scala

// Spark 4 on Java 17 needs these opens (Spark's launcher adds them; forked tests must too).
val java17Opens = Seq(
  "java.base/java.lang", "java.base/java.lang.invoke", "java.base/java.lang.reflect", "java.base/java.io",
  "java.base/java.net", "java.base/java.nio", "java.base/java.util", "java.base/java.util.concurrent",
  "java.base/java.util.concurrent.atomic", "java.base/jdk.internal.ref", "java.base/sun.nio.ch",
  "java.base/sun.nio.cs", "java.base/sun.security.action", "java.base/sun.util.calendar"
).map(p => s"--add-opens=$p=ALL-UNNAMED")

lazy val spark = (project in file("jvm"))
  .settings(
    name := "tegridy-tokens-spark",
    scalacOptions ++= Seq("-deprecation", "-feature", "-release:17", "-Wunused:imports"),
    libraryDependencies ++= Seq(
      "org.apache.spark" %% "spark-sql" % sparkVersion % Provided,
      // The Lambda client with the JDK's HTTP stack only: the SDK's default netty and Apache
      // clients would clash with the versions Spark puts on the classpath.
      ("software.amazon.awssdk" % "lambda" % awsSdkVersion)
        .exclude("software.amazon.awssdk", "netty-nio-client")
        .exclude("software.amazon.awssdk", "apache-client")
        .exclude("org.slf4j", "slf4j-api"),
      ("software.amazon.awssdk" % "url-connection-client" % awsSdkVersion)
        .exclude("org.slf4j", "slf4j-api"),
      "com.github.ben-manes.caffeine" % "caffeine" % caffeineVersion,
      "org.scalatest" %% "scalatest" % "3.2.19" % Test
    ),
    Test / fork := true,
    Test / javaOptions ++= java17Opens ++ Seq("-Xmx2g", "-Dspark.ui.enabled=false"),
    Test / parallelExecution := false,
    Test / testOptions += Tests.Argument(TestFrameworks.ScalaTest, "-oD"),

    assembly / assemblyJarName := "tegridy-tokens-spark.jar",
    assembly / test := {}, // `make test` runs the tests; assembling must not
    assemblyPackageScala / assembleArtifact := false,
    assembly / assemblyShadeRules := Seq(
      // Caffeine and its annotation jars are also on some Spark distributions' classpaths.
      ShadeRule.rename("com.github.benmanes.caffeine.**" -> "com.tegridy.shaded.caffeine.@1").inAll,
      ShadeRule.rename("com.google.errorprone.**" -> "com.tegridy.shaded.errorprone.@1").inAll,
      ShadeRule.rename("org.jspecify.**" -> "com.tegridy.shaded.jspecify.@1").inAll,
      ShadeRule.rename("org.reactivestreams.**" -> "com.tegridy.shaded.reactivestreams.@1").inAll,
      // Glue and EMR put their own AWS SDK v2 first on the classpath: ours is renamed so that the two
      // never meet (docs/build.md). jarjar also moves the SDK's resources, renames its service
      // files and rewrites the resource paths and class names in its string constants.
      ShadeRule.rename("software.amazon.awssdk.**" -> "com.tegridy.shaded.awssdk.@1").inAll,
      ShadeRule.rename("software.amazon.eventstream.**" -> "com.tegridy.shaded.eventstream.@1").inAll
    ),
    assembly / assemblyMergeStrategy := {
      case PathList("META-INF", "services", _*) => MergeStrategy.filterDistinctLines
      case PathList("META-INF", "versions", _, "module-info.class") => MergeStrategy.discard
      case "module-info.class" => MergeStrategy.discard
      case PathList("META-INF", xs @ _*) if xs.lastOption.exists(n => n.endsWith(".SF") || n.endsWith(".DSA") || n.endsWith(".RSA")) =>
        MergeStrategy.discard
      case PathList("META-INF", "MANIFEST.MF") => MergeStrategy.discard
      // GraalVM metadata and an OSGi manifest, both naming classes by their unrelocated names.
      case PathList("META-INF", "native-image", _*) => MergeStrategy.discard
      case PathList("META-INF", "versions", _, "OSGI-INF", _*) => MergeStrategy.discard
      // sdk-core's build templates, never read at run time (its mime.types lookup reads the copy
      // that moved to com/tegridy/shaded/awssdk/core/util/).
      case "VersionInfo.java" | "mime.types" => MergeStrategy.discard
      case x if x.endsWith("/VersionInfo.java.vm") => MergeStrategy.discard
      case x if x.endsWith("LICENSE") || x.endsWith("NOTICE") || x.endsWith("LICENSE.txt") || x.endsWith("NOTICE.txt") =>
        MergeStrategy.concat
      case x if x.endsWith("/package-info.class") || x.endsWith(".properties") && x.startsWith("META-INF/maven") =>
        MergeStrategy.discard
      case x =>
        val previous = (assembly / assemblyMergeStrategy).value
        previous(x)
    },
    // The jar test (JarContentsSuite) opens the assembled jar, so tests that ask for it see it.
    Test / javaOptions += s"-Dtegridy.assembly.jar=${(assembly / assemblyOutputPath).value}",
    // SettingsCatalogSuite holds the Python settings and the docs to the settings table.
    Test / javaOptions += s"-Dtegridy.repo=${(ThisBuild / baseDirectory).value}"
  )

lazy val root = (project in file("."))
  .aggregate(spark)
  .settings(name := "tegridy-tokens", publish / skip := true)
