package com.tegridy.spark.client

import java.util.concurrent.ConcurrentHashMap

import software.amazon.awssdk.http.{ExecutableHttpRequest, HttpExecuteRequest, SdkHttpClient}

/**
 * Wraps the SDK's synchronous HTTP client so that a call can be aborted from another thread, and
 * its connection closed after a failed call. A blocked socket read ignores Thread.interrupt;
 * aborting closes the connection, so a task that is cancelled does not leave its request
 * running until the timeout.
 */
final class AbortableHttpClient(delegate: SdkHttpClient) extends SdkHttpClient {
  private val active = new ConcurrentHashMap[Thread, ExecutableHttpRequest]()

  override def prepareRequest(request: HttpExecuteRequest): ExecutableHttpRequest = {
    val prepared = delegate.prepareRequest(request)
    active.put(Thread.currentThread(), prepared) // the sync client prepares on the calling thread
    prepared
  }

  /** The calling thread's last finished request, until its reply has been checked. */
  private val last = new ThreadLocal[ExecutableHttpRequest]()

  /** Forgets the calling thread's request once its call is over (keeping it as the last one). */
  def finished(): Unit = Option(active.remove(Thread.currentThread())).foreach(last.set)

  /**
   * Closes the connection of the calling thread's last call, whose complete reply broke the
   * protocol (garbage, another request's answer): it went back to the pool when its body was
   * read, and whatever sent that reply may send more on it.
   */
  def discardLast(): Unit = Option(last.get()).foreach { request =>
    last.remove()
    try request.abort() catch { case scala.util.control.NonFatal(_) => }
  }

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
