package com.tegridy.spark.runtime

import java.util.concurrent.ConcurrentHashMap

import com.github.benmanes.caffeine.cache.{Cache, Caffeine}

import com.tegridy.spark.client.{InvokeFailure, TokenServiceClient}
import com.tegridy.spark.config.{OnError, TegridyConf}
import com.tegridy.spark.errors.TegridyTokenizationException

/**
 * Executor-wide state, one per configuration, shared by every task of this JVM: the token
 * caches and the service client. The service is convergent (same value, same token), so a
 * cached answer is as good as a fresh one in either direction.
 */
final class TegridyRuntime private (val conf: TegridyConf) {
  val client: TokenServiceClient = TokenServiceClient.forLambda(conf)

  /** value -> token and token -> value; absent when `cache.maxEntries` is 0. */
  private val tokens: Option[Cache[String, String]] = newCache()
  private val values: Option[Cache[String, String]] = newCache()

  private def newCache(): Option[Cache[String, String]] =
    if (conf.cacheMaxEntries == 0) None
    else Some(Caffeine.newBuilder().maximumSize(conf.cacheMaxEntries).build[String, String]())

  /** The token for one value (cache, then one direct call); None only under onError=null. */
  def tokenizeOne(value: String, function: String): Option[String] =
    cached(tokens, value, function) {
      client.tokenize(IndexedSeq(value)).head match {
        case Right(token) => Some(token)
        case Left(_) => failed(function, "the service rejected the value", 1, null)
      }
    }

  /** The value behind one token (cache, then one direct call); None only under onError=null. */
  def detokenizeOne(token: String, function: String): Option[String] =
    cached(values, token, function) {
      Option(client.detokenize(IndexedSeq(token)).get(token))
        .orElse(failed(function, "the token was not found in the vault", 1, null))
    }

  private def cached(cache: Option[Cache[String, String]], key: String, function: String)(
      call: => Option[String]): Option[String] =
    cache.flatMap(c => Option(c.getIfPresent(key))).orElse {
      val answer = try call catch {
        case failure: InvokeFailure => failed(function, failure.cause.description, 1, failure)
      }
      for (c <- cache; a <- answer) c.put(key, a)
      answer
    }

  /** onError=null: the value becomes NULL; onError=fail: the query fails, naming no value. */
  private def failed(function: String, reason: String, count: Long, cause: Throwable): Option[String] =
    conf.onError match {
      case OnError.Null => None
      case OnError.Fail =>
        val error = new TegridyTokenizationException(function, conf.describeTarget, reason, count)
        if (cause != null) error.initCause(cause)
        throw error
    }
}

object TegridyRuntime {
  private val runtimes = new ConcurrentHashMap[TegridyConf, TegridyRuntime]()

  /** This JVM's runtime for `conf`, created on first use. */
  def forConf(conf: TegridyConf): TegridyRuntime = runtimes.computeIfAbsent(conf, c => new TegridyRuntime(c))
}
