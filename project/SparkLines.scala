// The Spark lines the engine is built for: one table (after Delta's project/CrossSparkVersions.scala),
// read by build.sbt to make one sbt project per line and by nothing else.

import sbt._

/**
 * One Spark line: the exact Spark it compiles against, that Spark's own Scala, and the shim folders
 * (under jvm/src/main/scala-shims/) that hold what differs between lines.
 *
 * @param line        "major.minor", as `pyspark.__version__` starts and the jar's name ends
 * @param projectId   the sbt project id (`spark` is the default line, the newest)
 * @param shimFolders the folders under `scala-shims/`, most specific first
 */
case class SparkLine(line: String, sparkVersion: String, scalaVersion: String, projectId: String, shimFolders: Seq[String]) {
  def scalaBinary: String = scalaVersion.split('.').take(2).mkString(".")
  /** The jar's file name, the same in jvm/target and in the Python package. */
  def jarName: String = s"tegridy-tokens-spark-$line.jar"
}

object SparkLines {
  // The newest patch of each line on both PyPI and Maven Central; Scala as in each Spark's pom.
  val spark35 = SparkLine("3.5", "3.5.9", "2.12.18", "spark35", Seq("spark-3.5"))
  val spark40 = SparkLine("4.0", "4.0.4", "2.13.16", "spark40", Seq("spark-4.x"))
  val spark41 = SparkLine("4.1", "4.1.3", "2.13.17", "spark41", Seq("spark-4.x"))
  val spark42 = SparkLine("4.2", "4.2.0", "2.13.18", "spark", Seq("spark-4.x"))

  /** The default line: the newest, project id `spark`, the one the full suites run on. */
  val default: SparkLine = spark42
  val all: Seq[SparkLine] = Seq(spark35, spark40, spark41, spark42)
}
