package com.tegridy.spark.client

import java.time.Duration

import scala.util.Try

import software.amazon.awssdk.auth.credentials.{AwsBasicCredentials, AwsCredentialsProvider, AwsCredentialsProviderChain, DefaultCredentialsProvider, EnvironmentVariableCredentialsProvider, ProfileCredentialsProvider, StaticCredentialsProvider, SystemPropertyCredentialsProvider}
import software.amazon.awssdk.awscore.exception.AwsServiceException
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy
import software.amazon.awssdk.core.SdkBytes
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration
import software.amazon.awssdk.core.exception.{AbortedException, ApiCallAttemptTimeoutException, ApiCallTimeoutException, SdkClientException}
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient
import software.amazon.awssdk.regions.Region
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain
import software.amazon.awssdk.services.lambda.LambdaClient
import software.amazon.awssdk.services.lambda.model.{InvokeRequest, TooManyRequestsException}

import com.tegridy.spark.config.TegridyConf

/**
 * One Lambda Invoke: payload bytes in, payload bytes out, or an [[InvokeFailure]] that says why
 * and whether trying again can help. The SDK's own retries are off: retrying is the caller's,
 * so that every retry is counted by cause.
 *
 * The HTTP stack is the JDK's (url-connection-client): the SDK's netty and Apache clients
 * would clash with the versions Spark ships.
 */
final class LambdaInvoker(conf: TegridyConf) extends Transport {
  private val http = new AbortableHttpClient(UrlConnectionHttpClient.builder()
    .connectionTimeout(Duration.ofMillis(math.min(conf.timeoutMs, 10000).toLong))
    .socketTimeout(Duration.ofMillis(conf.timeoutMs.toLong))
    .build())

  private val lambda: LambdaClient = {
    val builder = LambdaClient.builder()
      .region(LambdaInvoker.regionFor(conf))
      .credentialsProvider(LambdaInvoker.credentialsFor(conf))
      .httpClient(http)
      .overrideConfiguration(ClientOverrideConfiguration.builder()
        .retryStrategy(AwsRetryStrategy.doNotRetry())
        .apiCallTimeout(Duration.ofMillis(conf.timeoutMs.toLong))
        .build())
    conf.endpoint.foreach(builder.endpointOverride)
    builder.build()
  }

  /** The function's response payload; throws [[InvokeFailure]] for anything else. */
  override def invoke(operation: Operation, payload: Array[Byte]): Array[Byte] = {
    val function = conf.functionFor(operation)
    val request = InvokeRequest.builder()
      .functionName(function)
      .payload(SdkBytes.fromByteArrayUnsafe(payload))
      .build()
    val response = try lambda.invoke(request) catch {
      case e: Throwable =>
        http.discard() // never reuse a connection whose call failed: a late reply must not answer the next
        e match {
          // Interrupted or aborted (the owning task was cancelled): not a fault to retry.
          case _: AbortedException => throw new InterruptedException("the invocation was cancelled with its task")
          case _ if Thread.currentThread().isInterrupted => throw new InterruptedException("the invocation was cancelled with its task")
          case _ => throw LambdaInvoker.classify(e, function)
        }
    } finally http.finished()
    Option(response.functionError()) match {
      case Some(kind) =>
        // The errorMessage could quote a value (a third-party service may); keep the type only.
        val errorType = Try(WireProtocol.functionErrorType(response.payload().asByteArrayUnsafe())).toOption.flatten
        throw new InvokeFailure(errorType match {
          case Some(FailureCause.AccessDenied.ErrorType) => FailureCause.AccessDenied(function, s"$kind function error AccessDenied")
          case other => FailureCause.FunctionError(kind, other.getOrElse("unknown"))
        })
      case None => response.payload().asByteArrayUnsafe()
    }
  }

  override def lastCallSent: Boolean = http.lastCallSent

  /** Closes the connection of the invocation `thread` is making (its task was cancelled). */
  override def abort(thread: Thread): Unit = http.abort(thread)

  // The SDK does not close an HTTP client it was handed: both go.
  override def close(): Unit = try lambda.close() finally http.close()
}

object LambdaInvoker {
  /** What the local reference service accepts; used only for loopback endpoints. */
  private val LocalCredentials = AwsBasicCredentials.create("tegridy-local", "tegridy-local")

  /**
   * The configured region, else the SDK's default chain, else us-east-1. A loopback endpoint
   * ignores the region, so it skips the chain (whose last step asks the EC2 metadata service and
   * can stall for seconds off EC2).
   */
  def regionFor(conf: TegridyConf): Region =
    conf.region.map(Region.of)
      .orElse(if (conf.endpointIsLoopback) None else Try(new DefaultAwsRegionProviderChain().getRegion).toOption)
      .getOrElse(Region.US_EAST_1)

  /**
   * The SDK's default chain. For a loopback endpoint: the chain's local sources (system
   * properties, environment, profile), else fixed local credentials that the reference service
   * accepts; never for any other endpoint, where missing credentials must fail.
   */
  def credentialsFor(conf: TegridyConf): AwsCredentialsProvider =
    if (!conf.endpointIsLoopback) DefaultCredentialsProvider.builder().build()
    else {
      val local = AwsCredentialsProviderChain.builder().credentialsProviders(
        SystemPropertyCredentialsProvider.create(),
        EnvironmentVariableCredentialsProvider.create(),
        ProfileCredentialsProvider.create()).build()
      if (Try(local.resolveCredentials()).isSuccess) local else StaticCredentialsProvider.create(LocalCredentials)
    }

  /** Maps an SDK exception to a cause; messages keep status, codes and JDK reasons only. */
  def classify(error: Throwable, function: String): InvokeFailure = error match {
    case e: InvokeFailure => e
    case e: AwsServiceException =>
      val code = Option(e.awsErrorDetails()).flatMap(d => Option(d.errorCode())).getOrElse("unknown")
      val cause = e.statusCode() match {
        case 429 =>
          val retryAfter = e match {
            case t: TooManyRequestsException => Option(t.retryAfterSeconds()).flatMap(s => Try((s.trim.toDouble * 1000).toLong).toOption)
            case _ => None
          }
          FailureCause.Throttled(code, retryAfter)
        case 403 if code == "AccessDeniedException" => FailureCause.AccessDenied(function, s"$code, HTTP 403")
        case 404 => FailureCause.NotFound(code)
        case 413 => FailureCause.RequestTooLarge(code)
        case s if s >= 500 => FailureCause.ServerError(s, code)
        case s => FailureCause.ClientError(s, code)
      }
      new InvokeFailure(cause, e)
    case e: ApiCallTimeoutException => new InvokeFailure(FailureCause.Timeout, e)
    case e: ApiCallAttemptTimeoutException => new InvokeFailure(FailureCause.Timeout, e)
    case e: SdkClientException if Option(e.getMessage).exists(_.startsWith("Unable to load credentials")) =>
      new InvokeFailure(FailureCause.NoCredentials) // the SDK's long chain report stays out of our messages
    case e: SdkClientException =>
      val root = rootCause(e)
      val reason = s"${root.getClass.getSimpleName}: ${Option(root.getMessage).getOrElse("")}"
      if (isUnsent(root)) new InvokeFailure(FailureCause.Connection(reason, unsent = true), e)
      else if (root.isInstanceOf[java.net.SocketTimeoutException]) new InvokeFailure(FailureCause.Timeout, e)
      else new InvokeFailure(FailureCause.Connection(reason), e)
    case e => new InvokeFailure(FailureCause.Connection(e.getClass.getSimpleName), e)
  }

  /** Failed before a connection was made: nothing listening, no route, no such host, connect timed out. */
  private def isUnsent(root: Throwable): Boolean = root match {
    case _: java.net.ConnectException | _: java.net.NoRouteToHostException | _: java.net.UnknownHostException => true
    case timeout: java.net.SocketTimeoutException => Option(timeout.getMessage).exists(_.toLowerCase.contains("connect timed out"))
    case _ => false
  }

  private def rootCause(e: Throwable): Throwable = {
    var current = e
    while (current.getCause != null && current.getCause != current) current = current.getCause
    current
  }
}
