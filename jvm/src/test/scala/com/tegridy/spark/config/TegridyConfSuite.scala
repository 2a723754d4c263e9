package com.tegridy.spark.config

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.errors.TegridyConfigException

class TegridyConfSuite extends AnyFunSuite {
  private val required = Map(Settings.FunctionName.key -> "tegridy-tokens")

  test("defaults follow the contract") {
    val conf = TegridyConf.from(required)
    assert(conf.functionName == "tegridy-tokens")
    assert(conf.batchMaxRows == 500 && conf.batchMaxBytes == 5 * 1024 * 1024)
    assert(conf.maxInFlight == 16 && conf.cacheMaxEntries == 100000L && conf.timeoutMs == 30000)
    assert(conf.retryMaxAttempts == 100 && conf.retryTotalTimeoutMs == 300000L) // the time budget, not the count, ends retries
    assert(conf.onError == OnError.Fail && conf.endpoint.isEmpty && conf.region.isEmpty)
  }

  test("the scope: the default sends none, a name is checked, and protocol=redshift refuses any other") {
    assert(TegridyConf.from(required).scope == "default" && TegridyConf.from(required).requestScope.isEmpty)
    val marketing = TegridyConf.from(required + (Settings.Scope.key -> "marketing"))
    assert(marketing.requestScope.contains("marketing") && marketing != TegridyConf.from(required))
    assert(intercept[TegridyConfigException](TegridyConf.from(required + (Settings.Scope.key -> "Marketing")))
      .getMessage.contains("scope name"))
    val redshift = required + (Settings.ProtocolSetting.key -> "redshift")
    assert(intercept[TegridyConfigException](TegridyConf.from(redshift + (Settings.Scope.key -> "marketing")))
      .getMessage.contains("protocol=redshift has no place for a scope"))
    assert(intercept[TegridyConfigException](TegridyConf.from(redshift).withScope("marketing")).key == Settings.Scope.key)
  }

  test("a missing function name says which key to set and how") {
    val error = intercept[TegridyConfigException](TegridyConf.from(Map.empty))
    assert(error.key == Settings.FunctionName.key)
    assert(error.getMessage.contains("spark.tegridy.lambda.functionName is not set"))
  }

  test("an out-of-range value names the key and the allowed range") {
    val error = intercept[TegridyConfigException](TegridyConf.from(required + (Settings.BatchMaxBytes.key -> "7000000")))
    assert(error.getMessage == "spark.tegridy.batch.maxBytes must be between 1024 and 6291456, got 7000000")
    val notANumber = intercept[TegridyConfigException](TegridyConf.from(required + (Settings.MaxInFlight.key -> "lots")))
    assert(notANumber.getMessage.contains("spark.tegridy.maxInFlight must be a whole number between 1 and 1024"))
  }

  test("onError accepts fail and null only") {
    assert(TegridyConf.from(required + (Settings.OnErrorSetting.key -> "NULL")).onError == OnError.Null)
    val error = intercept[TegridyConfigException](TegridyConf.from(required + (Settings.OnErrorSetting.key -> "skip")))
    assert(error.getMessage.contains("must be one of fail, null"))
  }

  test("a misspelt key fails instead of being ignored") {
    val error = intercept[TegridyConfigException](TegridyConf.from(required + ("spark.tegridy.batch.maxRow" -> "10")))
    assert(error.key == "spark.tegridy.batch.maxRow")
  }

  test("only loopback endpoints count as local") {
    assert(TegridyConf.from(required + (Settings.Endpoint.key -> "http://127.0.0.1:9001")).endpointIsLoopback)
    assert(TegridyConf.from(required + (Settings.Endpoint.key -> "http://localhost:9001")).endpointIsLoopback)
    assert(!TegridyConf.from(required + (Settings.Endpoint.key -> "https://lambda.us-east-1.amazonaws.com")).endpointIsLoopback)
    assert(!TegridyConf.from(required).endpointIsLoopback)
    intercept[TegridyConfigException](TegridyConf.from(required + (Settings.Endpoint.key -> "127.0.0.1:9001")))
  }

  test("equal settings give equal configurations (one runtime per configuration)") {
    assert(TegridyConf.from(required) == TegridyConf.from(required + ("spark.other" -> "x")))
  }
}
