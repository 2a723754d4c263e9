package com.tegridy.spark.client

/**
 * Why one invocation failed, and whether trying again can help. Descriptions go into error
 * messages and logs, so they hold statuses, error codes and types only, never payload text.
 */
sealed abstract class FailureCause(val description: String, val retryable: Boolean) {
  /** A short stable name for metrics ("retries by cause"). */
  def metricName: String
}

object FailureCause {
  final case class Throttled(code: String) extends FailureCause(s"throttled by Lambda ($code, HTTP 429)", retryable = true) {
    def metricName = "throttle"
  }
  final case class ServerError(status: Int, code: String) extends FailureCause(s"Lambda service error (HTTP $status, $code)", retryable = true) {
    def metricName = "server_error"
  }
  case object Timeout extends FailureCause("the invocation timed out (spark.tegridy.timeoutMs)", retryable = true) {
    def metricName = "timeout"
  }
  final case class Connection(reason: String) extends FailureCause(s"could not reach the endpoint ($reason)", retryable = true) {
    def metricName = "connection"
  }
  final case class FunctionError(kind: String, errorType: String)
    extends FailureCause(s"the function failed (X-Amz-Function-Error: $kind, errorType: $errorType)", retryable = kind == "Unhandled") {
    def metricName = "function_error"
  }
  final case class NotFound(code: String)
    extends FailureCause(s"the function does not exist ($code, HTTP 404): check spark.tegridy.lambda.functionName and the region", retryable = false) {
    def metricName = "not_found"
  }
  final case class RequestTooLarge(code: String)
    extends FailureCause(s"the request exceeded Lambda's payload limit ($code, HTTP 413)", retryable = false) {
    def metricName = "too_large"
  }
  final case class ClientError(status: Int, code: String) extends FailureCause(s"Lambda refused the call (HTTP $status, $code)", retryable = false) {
    def metricName = "client_error"
  }
  final case class Protocol(problem: String) extends FailureCause(problem, retryable = false) {
    def metricName = "protocol"
  }
}

/** One invocation failed; see [[FailureCause]]. */
final class InvokeFailure(val cause: FailureCause, underlying: Throwable = null)
  extends RuntimeException(cause.description, underlying)
