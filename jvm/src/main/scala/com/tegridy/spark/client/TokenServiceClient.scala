package com.tegridy.spark.client

import java.util.concurrent.ThreadLocalRandom
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
 *  - retry a transport fault (throttling, 5xx, timeouts, connection errors, a reply that breaks
 *    the protocol) until `retry.totalTimeoutMs` for the batch and all its split halves
 *    (`retry.maxAttempts` a ceiling), and an Unhandled function error a few times;
 *  - split a batch whose failure one value can cause (a function error, HTTP 413, Redshift's
 *    `success: false`) until the bad value stands alone, so that the good values are answered;
 *  - or fail.
 * Every reply is checked against its request before any of it is used: the count, tokenize's
 * echo, detokenize's keys (a subset of the tokens asked for, and not none of them when the vault
 * vouched for one: [[KnownTokens]]), and under `redshift.verify=sample` a detokenized sample.
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
  private val known = new KnownTokens()
  private val shapes: IndexedSeq[Shape] = conf.protocol match {
    case WireFormat.Tegridy => IndexedSeq(new Tokenize(conf.requestScope, known), new Detokenize(conf.claimedRole, conf.requestScope, known))
    // Redshift's JSON has no place for a claimed role: safe_detokenize's label is not sent.
    case WireFormat.Redshift => Operation.all.map(new Redshift(_, caller, known)).toIndexedSeq
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
                case Right(answer) => out(i) = Answer.Token(answer); anyAnswered = true; shape.vouch(values(i), answer)
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
                  s"(attempt ${attempt + 1}, ${timeLeftMs / 1000} s of spark.tegridy.retry.totalTimeoutMs left) in $delay ms")
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
    val epoch = concurrency.acquire()
    var throttled = false
    val started = System.nanoTime()
    try {
      val outcomes = shape.parse(send(shape, items, stats, context), items)
      if (conf.verifiesSample) verifySample(shape, items, outcomes, stats, context)
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

  /** One request through the transport, counted as sent (`invocations`) or as never sent (`attempts_unsent`). */
  private def send(shape: Shape, items: IndexedSeq[String], stats: TegridyStats, context: CallContext): Array[Byte] = {
    val request = shape.request(items, context)
    var sent = true
    try {
      val payload = transport.invoke(shape.operation, request)
      stats.add(Counter.BytesReceived, payload.length)
      payload
    } catch {
      // Refused before connecting, or cancelled with its task before a byte went out.
      case failure: InvokeFailure if failure.cause.unsent || !transport.lastCallSent => sent = false; throw failure
      case cancelled: InterruptedException if !transport.lastCallSent => sent = false; throw cancelled
    } finally {
      if (sent) {
        stats.increment(Counter.Invocations)
        stats.add(Counter.ValuesSent, items.size)
        stats.add(Counter.BytesSent, request.length)
      } else stats.increment(Counter.AttemptsUnsent)
    }
  }

  /**
   * `redshift.verify=sample`: a Redshift reply carries nothing that ties it to its request, so a
   * few of its answers, picked at random, are sent through the other function (a token to
   * detokenize, a value to tokenize: the service is convergent) and must give back what was
   * sent at their place. A reply to another request (replayed by a proxy, or read late) fails
   * that check on its first sampled answer; a verification reply cannot vouch for a wrong answer,
   * since it would have to hold this batch's own keys.
   */
  private def verifySample(shape: Shape, items: IndexedSeq[String], outcomes: Array[Either[ItemFailure, String]],
      stats: TegridyStats, context: CallContext): Unit = {
    val answered = outcomes.indices.filter(i => outcomes(i).isRight)
    if (answered.isEmpty) return
    val random = ThreadLocalRandom.current()
    val picked = if (answered.size <= VerifySample) answered
      else Seq.fill(VerifySample)(answered(random.nextInt(answered.size))).distinct.toIndexedSeq
    val inverse = shapes(1 - shape.operation.index)
    val keys = picked.map { i =>
      FormattedValue.encode(FormattedValue.decode(items(i))._1.getOrElse(FormattedValue.Default), outcomes(i).toOption.get)
    }
    val back = inverse.parse(send(inverse, keys, stats, context.copy(function = VerifyFunction(inverse.operation))), keys)
    var k = 0
    while (k < picked.length) {
      if (back(k) != Right(FormattedValue.decode(items(picked(k)))._2)) {
        throw new TegridyProtocolViolation(s"a sampled answer of the reply does not map back to what was sent at its " +
          s"place (${picked.length} sampled of ${items.size}): the reply answers another request (spark.tegridy.redshift.verify)")
      }
      k += 1
    }
  }

  override def close(): Unit = transport.close()
}

object TokenServiceClient {
  /** Answers of a Redshift reply sent back through the other function to check it (`redshift.verify=sample`). */
  private val VerifySample = 4
  /** The `external_function` of a verification request, by the operation it asks for. */
  private val VerifyFunction: Operation => String = {
    case Operation.Tokenize => "tegridy_tokenize_hp"
    case Operation.Detokenize => "tegridy_detokenize_hp"
  }

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
    case _: FailureCause.Protocol => Counter.RetriesProtocol
    case _ => Counter.RetriesFunctionError
  }

  /** What differs between the two operations: request, response, and an item's refusal. */
  private sealed abstract class Shape(val operation: Operation, refusal: String, known: KnownTokens) {
    def name: String = operation.name
    /** Why the service refused this key, naming its format (and the format's rules) if it has one. */
    def rejected(key: String): String = FormattedValue.decode(key)._1 match {
      case None => refusal
      case Some(format) => s"$refusal for format $format (it does not match the format's shape, or the part to " +
        "encrypt has fewer than 1,000,000 possible values; see docs/functions.md)"
    }
    def request(items: IndexedSeq[String], context: CallContext): Array[Byte]
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]]

    /** The vault answered `key` with `answer`: remember the token (tokenize's answer, detokenize's key). */
    def vouch(key: String, answer: String): Unit =
      known.add(if (operation == Operation.Tokenize) answer else FormattedValue.decode(key)._2)

    /**
     * Detokenize: an answer that finds none of the tokens asked for, when the vault has vouched for
     * one of them through this client, answers another request (or is stale): a protocol break.
     */
    protected def checkFoundAny(outcomes: Array[Either[ItemFailure, String]], items: IndexedSeq[String]): Array[Either[ItemFailure, String]] = {
      if (outcomes.forall(_.isLeft) && items.exists(key => known.contains(FormattedValue.decode(key)._2))) {
        throw new TegridyProtocolViolation(s"the reply finds none of the ${items.size} token(s) asked for, though the " +
          "vault issued or found some of them before: a stale reply, or one to another request")
      }
      outcomes
    }
  }

  private final class Tokenize(scope: Option[String], known: KnownTokens)
      extends Shape(Operation.Tokenize, "the service rejected the value", known) {
    def request(items: IndexedSeq[String], context: CallContext): Array[Byte] = WireProtocol.tokenizeRequest(items, scope)
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]] =
      WireProtocol.parseTokenizeResponse(payload, items)
  }

  /** An erased token (tegridy-tokens erase) is the value's own failure, told apart from one not found. */
  private final class Detokenize(role: Option[String], scope: Option[String], known: KnownTokens)
      extends Shape(Operation.Detokenize, "the token was not found in the vault", known) {
    private val notFound = Left(ItemFailure(retryable = Some(false)))
    private val erased = Left(ItemFailure(retryable = Some(false), reason = Some("the token was erased (tegridy-tokens " +
      "erase): its value is gone for good")))
    def request(items: IndexedSeq[String], context: CallContext): Array[Byte] = WireProtocol.detokenizeRequest(items, role, scope)
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]] = {
      val (outcomes, anyErased) = if (WireProtocol.hasFormats(items)) {
        val (values, gone) = WireProtocol.parseDetokenizeValuesErased(payload, items.size)
        (values.zipWithIndex.map { case (v, i) => if (v != null) Right(v) else if (gone(i)) erased else notFound }, gone.nonEmpty)
      } else {
        val (found, gone) = WireProtocol.parseDetokenizeResponseErased(payload)
        val outcomes = items.map(token => Option(found.get(token)).map(Right(_)).getOrElse(if (gone(token)) erased else notFound)).toArray
        // The keys of a batch are distinct: any key found beyond those answered was never asked for.
        val answered = outcomes.count(_.isRight)
        if (answered != found.size()) {
          throw new TegridyProtocolViolation(s"the reply answers ${found.size() - answered} token(s) that were not asked " +
            "for: a reply to another request")
        }
        (outcomes, gone.exists(items.contains))
      }
      // A reply that names erased tokens asked for speaks of this request, even if it finds none of them.
      if (anyErased) outcomes else checkFoundAny(outcomes, items)
    }
  }

  /** A batch with no caller captured (settings parsed off a session: client tests). */
  private val UnknownCaller = RedshiftCaller("unknown", "unknown", "default")

  /** protocol=redshift, either operation: a null result is a value the function gave no answer for. */
  private final class Redshift(operation: Operation, caller: RedshiftCaller, known: KnownTokens) extends Shape(operation,
    if (operation == Operation.Tokenize) "the function answered NULL for the value"
    else "the function answered NULL for the token (not found)", known) {
    private val noAnswer = Left(ItemFailure(retryable = Some(false)))
    def request(items: IndexedSeq[String], context: CallContext): Array[Byte] = RedshiftProtocol.request(items, caller, context)
    def parse(payload: Array[Byte], items: IndexedSeq[String]): Array[Either[ItemFailure, String]] = {
      val outcomes = RedshiftProtocol.parseResults(payload, items.size).map(r => if (r == null) noAnswer else Right(r))
      if (operation == Operation.Detokenize) checkFoundAny(outcomes, items) else outcomes
    }
  }
}
