package org.apache.spark.tegridy

import org.apache.spark.rdd.InputFileBlockHolder
import org.scalatest.funsuite.AnyFunSuite

/**
 * Each line's InputFileBlockCell shim reaches the cell input_file_name() reads (in this package:
 * InputFileBlockHolder is private[spark]). Runs on every line.
 */
class InputFileBlockCellSuite extends AnyFunSuite {
  test("the input-file block cell holds what input_file_name() reads, and putting it back restores it") {
    InputFileBlockHolder.initialize()
    InputFileBlockHolder.set("file:/a.parquet", 0, 10)
    val saved = SparkInternals.inputFileBlockCell().get()
    InputFileBlockHolder.set("file:/b.parquet", 0, 10)
    assert(InputFileBlockHolder.getInputFilePath.toString == "file:/b.parquet")
    SparkInternals.inputFileBlockCell().set(saved)
    assert(InputFileBlockHolder.getInputFilePath.toString == "file:/a.parquet")
    InputFileBlockHolder.unset()
  }
}
