package com.tegridy.spark.client

/**
 * Why one invocation failed, and what may help: trying again (`retryable`), and/or splitting
 * the batch to isolate one bad value (`valueCaused`: a failure one value can cause). Descriptions
 * go into error messages and logs, so they hold statuses, error codes and types, never payload text.
 */
sealed abstract class FailureCause(val description: String, val retryable: Boolean, val valueCaused: Boolean) extends Serializable {
  /** A short stable name for logs and metrics ("retries by cause"). */
  def metricName: String
  /** How long the service asked us to wait before trying again, if it said. */
  def retryAfterMs: Option[Long] = None
  /** The request never left: no byte of it reached the network (`attempts_unsent`, not `invocations`). */
  def unsent: Boolean = false
}

object FailureCause {
  final case class Throttled(code: String, retryAfter: Option[Long])
    extends FailureCause(s"throttled by Lambda ($code, HTTP 429)", retryable = true, valueCaused = false) {
    def metricName = "throttle"
    override def retryAfterMs: Option[Long] = retryAfter
  }
  final case class ServerError(status: Int, code: String)
    extends FailureCause(s"Lambda service error (HTTP $status, $code)", retryable = true, valueCaused = false) {
    def metricName = "server_error"
  }
  case object Timeout extends FailureCause("the invocation timed out (spark.tegridy.timeoutMs)", retryable = true, valueCaused = false) {
    def metricName = "timeout"
  }
  /** `unsent`: refused before a byte of the request went out (nothing listening, no route, connect timed out). */
  final case class Connection(reason: String, override val unsent: Boolean = false)
    extends FailureCause(s"could not reach the endpoint ($reason)", retryable = true, valueCaused = false) {
    def metricName = "connection"
  }
  /** Unhandled: the function crashed, perhaps transiently, so retry, then bisect. Handled: bisect only. */
  final case class FunctionError(kind: String, errorType: String)
    extends FailureCause(s"the function failed (X-Amz-Function-Error: $kind, errorType: $errorType)",
      retryable = kind == "Unhandled" && errorType != FunctionError.ResponseTooLarge, valueCaused = true) {
    def metricName = "function_error"
  }
  object FunctionError {
    val ResponseTooLarge = "Function.ResponseSizeTooLarge"
  }
  case object NoCredentials
    extends FailureCause("no AWS credentials found by the SDK's default chain (environment, profile, web identity, " +
      "container or instance role); give the executors credentials for Lambda:InvokeFunction", retryable = false, valueCaused = false) {
    def metricName = "no_credentials"
    override def unsent: Boolean = true // the request cannot be signed
  }
  /**
   * The caller may not invoke this function: HTTP 403 AccessDeniedException from Lambda (IAM), or
   * a Handled/Unhandled function error of type AccessDenied (the function does not serve this
   * operation). Final: trying again cannot help, and no value is ever part of it.
   */
  final case class AccessDenied(function: String, code: String)
    extends FailureCause(s"not authorized to invoke $function ($code)", retryable = false, valueCaused = false) {
    def metricName = "access_denied"
  }
  object AccessDenied {
    val ErrorType = "AccessDenied"
  }
  final case class NotFound(code: String)
    extends FailureCause(s"the function does not exist ($code, HTTP 404): check spark.tegridy.lambda.functionName and the region",
      retryable = false, valueCaused = false) {
    def metricName = "not_found"
  }
  final case class RequestTooLarge(code: String)
    extends FailureCause(s"the request exceeded Lambda's payload limit ($code, HTTP 413)", retryable = false, valueCaused = true) {
    def metricName = "too_large"
  }
  final case class ClientError(status: Int, code: String)
    extends FailureCause(s"Lambda refused the call (HTTP $status, $code)", retryable = false, valueCaused = false) {
    def metricName = "client_error"
  }
  /**
   * protocol=redshift: the function answered `success: false`, which fails the whole batch; one
   * value may be why, so the batch is bisected. Its `error_msg` is never shown nor logged: a
   * function may quote the value it failed on.
   */
  final case class BatchRefused(withMessage: Boolean)
    extends FailureCause("the function answered success: false" + (if (withMessage) " (its error_msg is not shown: it " +
      "may quote a value; the function's own logs have it)" else ""), retryable = false, valueCaused = true) {
    def metricName = "refused"
  }
  /**
   * A reply that breaks the protocol: not JSON, cut short, headers without a body, fields missing,
   * the wrong count, an echo of another value, a detokenize answer for tokens not asked for, a
   * sampled token that detokenizes to another value. No value can cause that: the network, a proxy
   * or the service's plumbing did, so it is retried as any transport fault, at any depth of a
   * bisection, and when the retries run out it is an outage (never a value's failure).
   */
  final case class Protocol(problem: String) extends FailureCause(problem, retryable = true, valueCaused = false) {
    def metricName = "protocol"
  }
}

/** One invocation failed; see [[FailureCause]]. */
final class InvokeFailure(val cause: FailureCause, underlying: Throwable = null)
  extends RuntimeException(cause.description, underlying)
