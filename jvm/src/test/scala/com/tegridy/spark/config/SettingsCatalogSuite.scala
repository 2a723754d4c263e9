package com.tegridy.spark.config

import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.{Files, Paths}

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.TegridyFunctions
import com.tegridy.spark.errors.TegridyConfigException

/**
 * The settings table is the one declaration: the Python keywords (python/tegridy_tokens/settings.py),
 * the user docs (docs/configuration.md) and DESCRIBE FUNCTION must say what it says, as Sedona's
 * catalog test holds its docs to its code.
 */
class SettingsCatalogSuite extends AnyFunSuite {
  private val repo = Paths.get(sys.props.getOrElse("tegridy.repo", ".."))
  private def read(path: String): String = new String(Files.readAllBytes(repo.resolve(path)), UTF_8)

  test("python/tegridy_tokens/settings.py maps exactly the table's Python names to its keys") {
    val python = """"([a-z_]+)":\s*"(spark\.tegridy\.[A-Za-z.]+)"""".r.findAllMatchIn(read("python/tegridy_tokens/settings.py"))
      .map(m => m.group(1) -> m.group(2)).toMap
    assert(python == Settings.all.map(s => s.python -> s.key).toMap)
  }

  test("docs/configuration.md has one row per setting with its Python name and default") {
    val rows = read("docs/configuration.md").linesIterator.filter(_.startsWith("| `spark.tegridy.")).toSeq
    val documented = rows.map(_.split('|').map(_.trim).toSeq).map(cells => cells(1).stripPrefix("`").stripSuffix("`") -> cells).toMap
    assert(documented.keySet == Settings.knownKeys, "keys documented vs declared")
    Settings.all.foreach { setting =>
      val cells = documented(setting.key)
      assert(cells(2) == s"`${setting.python}`", setting.key)
      assert(cells(4).replace("`", "") == setting.defaultText, s"${setting.key}: default")
      assert(cells(5).replace("`", "") == setting.accepts, s"${setting.key}: allowed")
    }
  }

  test("DESCRIBE FUNCTION EXTENDED lists every setting with its default") {
    TegridyFunctions.all.foreach { function =>
      Settings.all.foreach(s => assert(function.info.getExtended.contains(s"${s.key} (default ${s.defaultText})"), function.name))
    }
  }

  test("a misspelt key names the closest setting") {
    val error = intercept[TegridyConfigException](TegridyConf.from(Map(Settings.FunctionName.key -> "f",
      "spark.tegridy.batch.maxRow" -> "10")))
    assert(error.getMessage.contains("did you mean spark.tegridy.batch.maxRows?"))
    val far = intercept[TegridyConfigException](TegridyConf.from(Map(Settings.FunctionName.key -> "f",
      "spark.tegridy.completely.different" -> "1")))
    assert(!far.getMessage.contains("did you mean"))
  }

  test("every setting's default parses as a value of that setting") {
    Settings.all.foreach { setting =>
      setting.default.foreach(d => assert(setting.parse(setting.defaultText) == Right(d), setting.key))
    }
  }
}
