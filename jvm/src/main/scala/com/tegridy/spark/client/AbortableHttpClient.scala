package com.tegridy.spark.client

import java.io.FilterInputStream
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicBoolean

import software.amazon.awssdk.http.{ContentStreamProvider, ExecutableHttpRequest, HttpExecuteRequest, SdkHttpClient}

/**
 * Wraps the SDK's synchronous HTTP client so that a call can be aborted from another thread, and
 * its connection closed after a failed call. A blocked socket read ignores Thread.interrupt;
 * aborting closes the connection, so a task that is cancelled does not leave its request
 * running until the timeout.
 */
final class AbortableHttpClient(delegate: SdkHttpClient) extends SdkHttpClient {
  private val active = new ConcurrentHashMap[Thread, ExecutableHttpRequest]()

  /** Whether the calling thread's current (or last) call has started writing its body: it was sent. */
  private val bodyTaken = new ThreadLocal[AtomicBoolean]()

  override def prepareRequest(request: HttpExecuteRequest): ExecutableHttpRequest = {
    val taken = new AtomicBoolean(false)
    bodyTaken.set(taken)
    // The HTTP client reads the body only once connected, to write it: reading it means sending it.
    val watched = request.contentStreamProvider().map[ContentStreamProvider] { provider =>
      () => new FilterInputStream(provider.newStream()) {
        override def read(): Int = { taken.set(true); super.read() }
        override def read(b: Array[Byte], off: Int, len: Int): Int = { taken.set(true); super.read(b, off, len) }
      }
    }
    val prepared = delegate.prepareRequest(HttpExecuteRequest.builder().request(request.httpRequest())
      .contentStreamProvider(watched.orElse(null)).metricCollector(request.metricCollector().orElse(null)).build())
    active.put(Thread.currentThread(), prepared) // the sync client prepares on the calling thread
    prepared
  }

  /** The calling thread's last call put at least its first bytes on the wire (false: it never connected). */
  def lastCallSent: Boolean = Option(bodyTaken.get()).forall(_.get())

  /** Forgets the calling thread's request once its call is over. */
  def finished(): Unit = active.remove(Thread.currentThread())

  /**
   * Closes the calling thread's connection after its call failed (a timeout, a reset, a cut or
   * unread body), so that it never goes back to the pool: a reply that arrives late on it can
   * never be read as the answer to the next request.
   */
  def discard(): Unit = abort(Thread.currentThread())

  /** Closes the connection of the request `thread` is making, if any. */
  def abort(thread: Thread): Unit = Option(active.remove(thread)).foreach { request =>
    try request.abort() catch { case scala.util.control.NonFatal(_) => } // already closed
  }

  override def clientName(): String = delegate.clientName()
  override def close(): Unit = delegate.close()
}
