package com.tegridy.spark.client

/**
 * What one batch's requests say about where they come from, beyond the values: the SQL function
 * that asks (`external_function` under protocol=redshift) and the query's SQL execution id
 * (`query_id`), set once per task by its collector. The tegridy protocol sends neither.
 */
final case class CallContext(function: String, queryId: Option[Long])

object CallContext {
  /** A batch with nothing known about its origin (client tests, the tegridy protocol). */
  val Unknown: CallContext = CallContext("unknown", None)
}
