package com.tegridy.spark.client

import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.client.RetryPolicy.Decision

/** The retry policy as a pure decision: the same facts give the same answer. */
class RetryPolicySuite extends AnyFunSuite {
  private val ceilingOnly = new RetryPolicy(maxAttempts = 4, jitter = ceiling => ceiling)

  test("retryable causes are retried with exponential delays until the attempts run out") {
    val throttled = FailureCause.Throttled("TooManyRequestsException", None)
    assert(ceilingOnly.decide(throttled, attempt = 1, timeLeftMs = 60000, size = 10) == Decision.Retry(50))
    assert(ceilingOnly.decide(throttled, attempt = 3, timeLeftMs = 60000, size = 10) == Decision.Retry(200))
    assert(ceilingOnly.decide(throttled, attempt = 4, timeLeftMs = 60000, size = 10) == Decision.Fail)
  }

  test("the service's Retry-After is a floor; a delay past the time left is not taken") {
    val throttled = FailureCause.Throttled("TooManyRequestsException", Some(1500L))
    assert(ceilingOnly.decide(throttled, 1, 60000, 1) == Decision.Retry(1500))
    assert(ceilingOnly.decide(throttled, 1, 1000, 1) == Decision.Fail)
  }

  test("a failure one value can cause is split once retries are spent, and fails alone") {
    val handled = FailureCause.FunctionError("Handled", "PoisonValueError")
    assert(ceilingOnly.decide(handled, 1, 60000, 8) == Decision.Split)
    assert(ceilingOnly.decide(handled, 1, 60000, 1) == Decision.Fail)
    val unhandled = FailureCause.FunctionError("Unhandled", "Runtime.ExitError")
    assert(ceilingOnly.decide(unhandled, 1, 60000, 8).isInstanceOf[Decision.Retry])
    assert(ceilingOnly.decide(unhandled, 4, 60000, 8) == Decision.Split) // a split half keeps the spent budget
  }

  test("setup failures are never retried nor split") {
    Seq(FailureCause.NotFound("ResourceNotFoundException"), FailureCause.NoCredentials, FailureCause.ClientError(403, "AccessDeniedException"))
      .foreach(cause => assert(ceilingOnly.decide(cause, 1, 60000, 100) == Decision.Fail, cause))
  }

  test("items are retried on their own budget") {
    assert(ceilingOnly.decideItems(attempt = 1, budget = 3, timeLeftMs = 60000) == Decision.Retry(50))
    assert(ceilingOnly.decideItems(attempt = 3, budget = 3, timeLeftMs = 60000) == Decision.Fail)
  }
}
