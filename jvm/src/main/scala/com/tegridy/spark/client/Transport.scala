package com.tegridy.spark.client

/**
 * How one request reaches the service: a request payload in, the response payload out, or an
 * [[InvokeFailure]] that says why. The operation picks the function (detokenize has its own). `abort` closes the call another thread is making (its task
 * was cancelled); `close` releases connections.
 */
trait Transport extends AutoCloseable {
  def invoke(operation: Operation, payload: Array[Byte]): Array[Byte]
  def abort(thread: Thread): Unit
  /** Whether the calling thread's last call went out (false: refused before a byte was sent). */
  def lastCallSent: Boolean = true
  override def close(): Unit
}
