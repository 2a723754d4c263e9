package com.tegridy.spark.runtime

import java.util.concurrent.CompletableFuture

import org.apache.spark.unsafe.types.UTF8String

import com.tegridy.spark.client.{Answer, Failure}

/**
 * One distinct value of a task's window, and where its answer will come from. Rows that hold
 * the same value hold the same slot. It is settled once its row result is final: the token, the
 * value itself (blank), or NULL (a NULL value, or a failed value under onError=null).
 */
final class Slot private[runtime] (val key: String) {
  private[runtime] var future: CompletableFuture[Answer] = _
  /** Its request has left this task's hands (sent, or owned by another task). */
  private[runtime] var sent: Boolean = false
  private[runtime] var result: UTF8String = _
  private[runtime] var settled: Boolean = false
  /** Why the value has no token, when it failed and its rows got NULL (for per-row error columns). */
  private[runtime] var failure: Failure = _

  private[runtime] def settle(value: UTF8String): Slot = {
    result = value
    settled = true
    this
  }

  /** Settled with the token the service answered: what a row of this value gets. */
  private[runtime] def settleToken(token: String): Slot = settle(UTF8String.fromString(token))

  /**
   * Its answer is here: taking it will not wait. A token that has arrived settles the slot on the
   * way (on the task thread, the slot's only user), so that the many rows that wait on the same
   * value read the settled result instead of unwrapping the future again, row after row.
   */
  def isAnswered: Boolean = settled || (future != null && future.isDone && !future.isCompletedExceptionally &&
    (future.getNow(Answer.Abandoned) match {
      case Answer.Token(text) => settleToken(text); true
      case answer => answer ne Answer.Abandoned
    }))
}

object Slot {
  /** The answer for a NULL value: NULL, never sent. */
  val NullValue: Slot = new Slot(null).settle(null)
}
