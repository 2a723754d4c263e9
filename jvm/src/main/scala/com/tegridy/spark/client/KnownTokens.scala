package com.tegridy.spark.client

import java.util.concurrent.atomic.AtomicLongArray

/**
 * Tokens the vault has vouched for through this client: answered by tokenize, or found by
 * detokenize. A detokenize reply that finds none of a batch holding one of them is a stale reply
 * or one meant for another request, not "not found" (docs/protocols.md). Lossy and of fixed size,
 * 64-bit fingerprints in a direct-mapped table: forgetting a token only skips that check for it,
 * and no token is kept, only its fingerprint.
 */
final class KnownTokens(slotsLog2: Int = 16) {
  private val mask = (1 << slotsLog2) - 1
  private val table = new AtomicLongArray(1 << slotsLog2)

  def add(token: String): Unit = {
    val print = KnownTokens.fingerprint(token)
    table.set(slot(print), print)
  }

  def contains(token: String): Boolean = {
    val print = KnownTokens.fingerprint(token)
    table.get(slot(print)) == print
  }

  private def slot(print: Long): Int = (print ^ (print >>> 32)).toInt & mask
}

object KnownTokens {
  /** FNV-1a, 64 bits, over the UTF-16 units; never 0 (an empty slot). */
  def fingerprint(token: String): Long = {
    var hash = 0xcbf29ce484222325L
    var i = 0
    while (i < token.length) {
      hash = (hash ^ token.charAt(i)) * 0x100000001b3L
      i += 1
    }
    if (hash == 0L) 1L else hash
  }
}
