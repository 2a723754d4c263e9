package com.tegridy.spark.client

import java.util.concurrent.atomic.AtomicLong

import scala.collection.mutable.ArrayBuffer

import org.slf4j.LoggerFactory

import com.tegridy.spark.client.RetryPolicy.Decision
import com.tegridy.spark.client.WireProtocol.ItemFailure
import com.tegridy.spark.config.{RedshiftCaller, TegridyConf, WireFormat}
import com.tegridy.spark.errors.TegridyProtocolViolation
import com.tegridy.spark.metrics.TegridyStats
import com.tegridy.spark.metrics.TegridyStats.Counter

/**
 * The tokenization service as batches: values in, one [[Answer]] per value out, in order: a
 * token or a failure. Never a silent NULL, never a lost value.
 *
 * After each failed invocation the [[RetryPolicy]] decides, by cause ([[FailureCause]]):
 *  - retry (throttling, 5xx, timeouts, connection errors, Unhandled function errors), within
 *    `retry.maxAttempts` for the batch and all its split halves, and `retry.totalTimeoutMs`;
 *  - split a batch whose failure one value can cause (a function error, HTTP 413, a malformed
 *    response) until the bad value stands alone, so that the good values are answered;
 *  - or fail.
 * Items the service fails alone are retried alone: `"retryable": true` on the batch's budget,
 * an item with no flag up to `retry.itemAttempts` times, `"retryable": false` never.
 *
 * A failure is the value's own ([[ValueFailure]], where `onError` applies) when the service
 * refused that value while answering others; anything else is a [[ServiceFailure]], which
 * always fails the query. Every attempt goes through the executor's [[AdaptiveConcurrency]] and
 * is counted in `stats`, retries by cause.
 */
class TokenServiceClient(conf: TegridyConf, transport: Transport, policy: RetryPolicy) extends AutoCloseable {
  import TokenServiceClient._

  private val log = LoggerFactory.getLogger(classOf[TokenServiceClient])
  private val caller = conf.caller.getOrElse(UnknownCaller)
  private val shapes: IndexedSeq[Shape] = conf.protocol match {
    case WireFormat.Tegridy => IndexedSeq(new Tokenize(conf.requestScope), new Detokenize(conf.claimedRole, conf.requestScope))
    // Redshift's JSON has no place for a claimed role: safe_detokenize's label is not sent.
    case WireFormat.Redshift => Operation.all.map(new Redshift(_, caller)).toIndexedSeq
  }
  val concurrency = new AdaptiveConcurrency(conf.maxInFlight)
  /** When an invocation last came back well formed: the service is up and answering. */
  private val lastAnsweredNanos = new AtomicLong(System.nanoTime() - 2 * RecentNanos)

  /** Stops the invocation that `thread` is making now, if any (its task was cancelled). */
  def abort(thread: Thread): Unit = transport.abort(thread)

  /** The bytes of a request from `function` that carries no value yet. */
  def requestOverheadBytes(operation: Operation, function: String): Long = conf.protocol match {
    case WireFormat.Redshift => RedshiftProtocol.requestOverheadBytes(caller, function)
    case WireFormat.Tegridy => WireProtocol.requestOverheadBytes(operation) + WireProtocol.scopeBytes(conf.requestScope) +
      (if (operation == Operation.Detokenize) WireProtocol.roleBytes(conf.claimedRole) else 0L)
  }

  /** An upper bound on the bytes `value` adds to a request. */
  def itemBytes(operation: Operation, value: String): Long = conf.protocol match {
    case WireFormat.Redshift => RedshiftProtocol.itemBytes(value)
    case WireFormat.Tegridy => WireProtocol.itemBytes(operation, value)
  }

  /** One answer per value, in order; `context` says which function and query the batch is for. */
  def call(operation: Operation, values: IndexedSeq[String], stats: TegridyStats,
      context: CallContext = CallContext.Unknown): Array[Answer] = {
    val run = new BatchRun(shapes(operation.index), values, stats, context)
    run.solve(values.indices)
    run.finish()
  }

  /** One batch and every retry and split half of it, sharing one attempt budget and deadline. */
  private final class BatchRun(shape: Shape, values: IndexedSeq[String], stats: TegridyStats, context: CallContext) {
    private val out = new Array[Answer](values.size)
    private val deadline = System.nanoTime() + conf.retryTotalTimeoutMs * 1000000L
    private var attempt = 1
    private val itemTries = new Array[Int](values.size)
    private var anyAnswered = false
    /** Values a failure one value can cause hit alone: theirs, if the service answers others. */
    private val isolated = ArrayBuffer[(Int, FailureCause)]()

    def solve(indices: IndexedSeq[Int]): Unit = {
      var pending = indices
      while (pending.nonEmpty) {
        attemptOnce(shape, pending.map(values), stats, context) match {
          case Right(outcomes) =>
            val again = ArrayBuffer[Int]()
            var delay = 0L
            var k = 0
            while (k < pending.length) {
              val i = pending(k)
              outcomes(k) match {
                case Right(answer) => out(i) = Answer.Token(answer); anyAnswered = true
                case Left(ItemFailure(Some(false), reason)) =>
                  out(i) = Answer.Failed(ValueFailure(reason.getOrElse(shape.rejected(values(i))), 1))
                case Left(ItemFailure(flag, _)) =>
                  itemTries(i) += 1
                  val budget = if (flag.contains(true)) conf.retryMaxAttempts else conf.retryItemAttempts
                  policy.decideItems(itemTries(i), budget, timeLeftMs) match {
                    case Decision.Retry(ms) => again += i; delay = math.max(delay, ms)
                    case _ => out(i) = Answer.Failed(itemGaveUp(flag, itemTries(i)))
                  }
              }
              k += 1
            }
            pending = again.toIndexedSeq
            if (pending.nonEmpty) {
              log.warn(s"${shape.name}: the service failed ${pending.size} value(s) alone; retrying them in $delay ms")
              stats.increment(Counter.Retries)
              stats.increment(Counter.RetriesItem)
              Thread.sleep(delay)
            }

          case Left(failure) =>
            val cause = failure.cause
            policy.decide(cause, attempt, timeLeftMs, pending.size) match {
              case Decision.Retry(delay) =>
                log.warn(s"${shape.name}: batch of ${pending.size} value(s) failed: ${cause.description}; retrying " +
                  s"(attempt ${attempt + 1} of ${conf.retryMaxAttempts}) in $delay ms")
                stats.increment(Counter.Retries)
                stats.increment(retryCounter(cause))
                Thread.sleep(delay)
                attempt += 1
              case Decision.Split =>
                // One value may be the cause: halve until it stands alone; the rest get answered.
                log.warn(s"${shape.name}: batch of ${pending.size} value(s) failed: ${cause.description}; splitting it " +
                  "in two to isolate the value that causes it")
                stats.increment(Counter.Bisections)
                val (left, right) = pending.splitAt(pending.size / 2)
                solve(left)
                solve(right)
                pending = IndexedSeq.empty
              case Decision.Fail =>
                log.warn(s"${shape.name}: ${pending.size} value(s) failed: ${cause.description} (after $attempt attempt(s))")
                if (cause.valueCaused && pending.size == 1) isolated += (pending.head -> cause)
                else {
                  val failure = cause match {
                    case denied: FailureCause.AccessDenied => Answer.Failed(ServiceFailure(denied.description, pending.size, accessDenied = true))
                    case _ => Answer.Failed(ServiceFailure(s"${cause.description}, after $attempt attempt(s)", pending.size))
                  }
                  pending.foreach(out(_) = failure)
                }
                pending = IndexedSeq.empty
            }
        }
      }
    }

    /** Settles the isolated failures and gives each failure the count of values it hit. */
    def finish(): Array[Answer] = {
      if (isolated.nonEmpty) {
        val serviceAnswers = anyAnswered || System.nanoTime() - lastAnsweredNanos.get() < RecentNanos
        isolated.foreach { case (i, cause) =>
          out(i) = Answer.Failed(
            if (serviceAnswers) ValueFailure(s"the service refused the value: ${cause.description}", 1)
            else ServiceFailure(s"${cause.description}, and the service answered no other value", 1))
        }
      }
      val counts = out.iterator.collect { case Answer.Failed(f) => f.reason }.toSeq.groupBy(identity).map { case (reason, same) => reason -> same.size }
      var i = 0
      while (i < out.length) {
        out(i) match {
          case Answer.Failed(f: ValueFailure) if f.count != counts(f.reason) => out(i) = Answer.Failed(f.copy(count = counts(f.reason)))
          case Answer.Failed(f: ServiceFailure) if f.count != counts(f.reason) => out(i) = Answer.Failed(f.copy(count = counts(f.reason)))
          case _ =>
        }
        i += 1
      }
      out
    }

    private def timeLeftMs: Long = (deadline - System.nanoTime()) / 1000000L

    private def itemGaveUp(flag: Option[Boolean], tries: Int): Failure =
      if (flag.contains(true)) ServiceFailure("the service failed the value transiently until the retries ran out " +
        "(spark.tegridy.retry.maxAttempts / retry.totalTimeoutMs)", 1)
      else ValueFailure(s"the service failed the value $tries time(s) without marking it retryable " +
        "(spark.tegridy.retry.itemAttempts)", 1)
  }

  /** One invocation through the concurrency limit: the per-item outcomes, or why it failed. */
  private def attemptOnce(shape: Shape, items: IndexedSeq[String], stats: TegridyStats, context: CallContext)
      : Either[InvokeFailure, Array[Either[ItemFailure, String]]] = {
    val request = shape.request(items, context)
    val epoch = concurrency.acquire()
    var throttled = false
    stats.increment(Counter.Invocations)
    stats.add(Counter.ValuesSent, items.size)
    stats.add(Counter.BytesSent, request.length)
    val started = System.nanoTime()
    try {
      val payload = transport.invoke(shape.operation, request)
      stats.add(Counter.BytesReceived, payload.length)
      val outcomes = shape.parse(payload, items)
      lastAnsweredNanos.set(System.nanoTime())
      Right(outcomes)
    } catch {
      case violation: TegridyProtocolViolation => Left(new InvokeFailure(FailureCause.Protocol(violation.getMessage)))
      case failure: InvokeFailure =>
        throttled = failure.cause.isInstanceOf[FailureCause.Throttled]
        if (throttled) stats.increment(Counter.Throttles)
        Left(failure)
    } finally {
      stats.recordLatencyNanos(System.nanoTime() - started)
      concurrency.release(epoch, throttled)
    }
  }

  override def close(): Unit = transport.close()
}

object TokenServiceClient {
  /** How long one well-formed answer vouches that the service is up. */
  private val RecentNanos = 60L * 1000 * 1000 * 1000

  /** The client over the real AWS SDK Lambda invoker. */
  def forLambda(conf: TegridyConf): TokenServiceClient =
    new TokenServiceClient(conf, new LambdaInvoker(conf), new RetryPolicy(conf.retryMaxAttempts))

  /** The retry counter of a retryable cause ("retries by cause"). */
  def retryCounter(cause: FailureCause): Counter = cause match {
    case _: FailureCause.Throttled => Counter.RetriesThrottled
    case _: FailureCause.ServerError => Counter.RetriesServerError
    case FailureCause.Timeout => Counter.RetriesTimeout
    case _: FailureCause.Connection => Counter.RetriesConnection
    case _ => Counter.RetriesFunctionError
  }

  /** What differs between the two operations: request, response, and an item's refusal. */
  private sealed abstract class Shape(val operation: Operation, refusal: String) {
    def name: String = operation.name
    /** Why the service refused this key, naming its format (and the format's rules) if it has one. */
    def rejected(key: String): String = FormattedValue.decode(key)._1 match {
      case None => refusal
      case Some(format) => s"$refusal for format $format (it does not match the format's shape, or the part to " +
        "encrypt has fewer than 1,000,000 possible values; see docs/functions.md)"
    }
    def request(items: IndexedSeq[String], context: CallContext): Array[Byte]
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]]
  }

  private final class Tokenize(scope: Option[String]) extends Shape(Operation.Tokenize, "the service rejected the value") {
    def request(items: IndexedSeq[String], context: CallContext): Array[Byte] = WireProtocol.tokenizeRequest(items, scope)
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]] =
      WireProtocol.parseTokenizeResponse(payload, items)
  }

  /** An erased token (tegridy-tokens erase) is the value's own failure, told apart from one not found. */
  private final class Detokenize(role: Option[String], scope: Option[String])
      extends Shape(Operation.Detokenize, "the token was not found in the vault") {
    private val notFound = Left(ItemFailure(retryable = Some(false)))
    private val erased = Left(ItemFailure(retryable = Some(false), reason = Some("the token was erased (tegridy-tokens " +
      "erase): its value is gone for good")))
    def request(items: IndexedSeq[String], context: CallContext): Array[Byte] = WireProtocol.detokenizeRequest(items, role, scope)
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]] =
      if (WireProtocol.hasFormats(items)) {
        val (values, gone) = WireProtocol.parseDetokenizeValuesErased(payload, items.size)
        values.zipWithIndex.map { case (v, i) => if (v != null) Right(v) else if (gone(i)) erased else notFound }
      } else {
        val (found, gone) = WireProtocol.parseDetokenizeResponseErased(payload)
        items.map(token => Option(found.get(token)).map(Right(_)).getOrElse(if (gone(token)) erased else notFound)).toArray
      }
  }

  /** A batch with no caller captured (settings parsed off a session: client tests). */
  private val UnknownCaller = RedshiftCaller("unknown", "unknown", "default")

  /** protocol=redshift, either operation: a null result is a value the function gave no answer for. */
  private final class Redshift(operation: Operation, caller: RedshiftCaller) extends Shape(operation,
    if (operation == Operation.Tokenize) "the function answered NULL for the value"
    else "the function answered NULL for the token (not found)") {
    private val noAnswer = Left(ItemFailure(retryable = Some(false)))
    def request(items: IndexedSeq[String], context: CallContext): Array[Byte] = RedshiftProtocol.request(items, caller, context)
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]] =
      RedshiftProtocol.parseResults(payload, items.size).map(r => if (r == null) noAnswer else Right(r))
  }
}
