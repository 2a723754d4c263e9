package com.tegridy.spark.execution

import org.apache.spark.sql.DataFrame
import org.apache.spark.sql.catalyst.expressions.{EqualNullSafe, If, Literal}
import org.apache.spark.sql.catalyst.plans.logical.{Aggregate, Filter, Join, LogicalPlan}
import org.scalatest.funsuite.AnyFunSuite

import com.tegridy.spark.expressions.TegridyStringFunction
import com.tegridy.spark.testing.LocalSparkSession

/** The rule's output plans, and that the rewritten plans still compute the right answers. */
class ExtractTokenCallsSuite extends AnyFunSuite with LocalSparkSession {

  override protected def beforeAll(): Unit = {
    super.beforeAll()
    // Built on range(), not VALUES: the optimizer evaluates projections over a local relation
    // itself (ConvertToLocalRelation, through eval), so no batching node would be planned.
    spark.sql("""SELECT CAST(id AS INT) id, IF(id = 2, 'b@x.com', 'a@x.com') email, IF(id = 2, 'PUBLIC', 'PII') cls
                |FROM range(1, 4, 1, 1)""".stripMargin).createOrReplaceTempView("customers")
    spark.sql("SELECT CAST(id AS INT) order_id, IF(id = 10, 'a@x.com', 'c@x.com') email FROM range(10, 12, 1, 1)")
      .createOrReplaceTempView("orders")
  }

  private def optimized(df: DataFrame): LogicalPlan = df.queryExecution.optimizedPlan
  private def batches(plan: LogicalPlan): Seq[BatchTokenize] = plan.collect { case b: BatchTokenize => b }
  /** Calls the rule left in place (outside any BatchTokenize). */
  private def callsLeft(plan: LogicalPlan): Seq[TegridyStringFunction] = plan.collect {
    case _: BatchTokenize => Nil
    case node => node.expressions.flatMap(_.collect { case c: TegridyStringFunction => c })
  }.flatten

  test("Project: the call moves into a BatchTokenize below it") {
    val df = spark.sql("SELECT id, tegridy_tokenize_hp(email) AS t FROM customers")
    val plan = optimized(df)
    assert(batches(plan).map(_.calls.size) == Seq(1))
    assert(callsLeft(plan).isEmpty)
    assert(df.collect().map(_.getString(1)).toSeq == Seq("T(a@x.com)", "T(b@x.com)", "T(a@x.com)"))
  }

  test("semantically equal calls are evaluated once") {
    val df = spark.sql("""SELECT tegridy_tokenize_hp(email) a, tegridy_tokenize(email) b,
                         |upper(tegridy_tokenize_hp(email)) c FROM customers""".stripMargin)
    assert(batches(optimized(df)).map(_.calls.size) == Seq(1))
    assert(df.collect().forall(r => r.getString(0) == r.getString(1) && r.getString(2) == r.getString(0).toUpperCase))
  }

  test("Filter: the call moves below the filter and its column is trimmed away") {
    val df = spark.sql("SELECT id FROM customers WHERE tegridy_tokenize_hp(email) = 'T(a@x.com)'")
    val plan = optimized(df)
    val filter = plan.collectFirst { case f: Filter => f }.get
    assert(filter.child.isInstanceOf[BatchTokenize])
    assert(plan.output.map(_.name) == Seq("id"))
    assert(df.collect().map(_.getInt(0)).sorted.toSeq == Seq(1, 3))
  }

  test("Aggregate: a call in the grouping keys is evaluated below the aggregate") {
    val df = spark.sql("SELECT tegridy_tokenize_hp(email) t, count(*) n FROM customers GROUP BY tegridy_tokenize_hp(email)")
    val plan = optimized(df)
    val agg = plan.collectFirst { case a: Aggregate => a }.get
    assert(batches(agg.child).size == 1 && callsLeft(plan).isEmpty)
    assert(df.collect().map(r => r.getString(0) -> r.getLong(1)).toMap == Map("T(a@x.com)" -> 2L, "T(b@x.com)" -> 1L))
  }

  test("Aggregate: a call over an aggregate's result is evaluated above the aggregate") {
    val df = spark.sql("SELECT tegridy_tokenize_hp(max(email)) t, count(*) n FROM customers")
    val plan = optimized(df)
    val agg = plan.collectFirst { case a: Aggregate => a }.get
    assert(batches(agg).isEmpty && batches(plan).size == 1 && callsLeft(plan).isEmpty)
    assert(df.collect().head.getString(0) == "T(b@x.com)")
  }

  test("Aggregate: a call inside an aggregate function's argument is evaluated below it") {
    val df = spark.sql("SELECT cls, max(tegridy_tokenize_hp(email)) m FROM customers GROUP BY cls")
    val agg = optimized(df).collectFirst { case a: Aggregate => a }.get
    assert(batches(agg.child).size == 1)
    assert(df.collect().map(r => r.getString(0) -> r.getString(1)).toMap == Map("PII" -> "T(a@x.com)", "PUBLIC" -> "T(b@x.com)"))
  }

  test("Join: each side's call moves below that side and the condition compares columns") {
    val df = spark.sql("""SELECT c.id, o.order_id FROM customers c JOIN orders o
                         |ON tegridy_tokenize_hp(c.email) = tegridy_tokenize_hp(o.email)""".stripMargin)
    val plan = optimized(df)
    val join = plan.collectFirst { case j: Join => j }.get
    assert(batches(join.left).size == 1 && batches(join.right).size == 1)
    assert(!join.condition.exists(c => c.exists(_.isInstanceOf[TegridyStringFunction])))
    assert(df.collect().map(r => r.getInt(0) -> r.getInt(1)).toSet == Set(1 -> 10, 3 -> 10))
  }

  test("CASE WHEN: the guard is folded into the argument, so untaken branches send nothing") {
    lambda.reset()
    val df = spark.sql("""SELECT id, CASE WHEN cls = 'PII' THEN tegridy_tokenize_hp(email) ELSE email END AS e
                         |FROM customers""".stripMargin)
    val call = batches(optimized(df)).flatMap(_.calls).head
    call.children.head match {
      case If(EqualNullSafe(_, Literal(true, _)), _, Literal(null, _)) =>
      case other => fail(s"no guard in the argument: $other")
    }
    assert(df.collect().map(r => r.getInt(0) -> r.getString(1)).toMap == Map(1 -> "T(a@x.com)", 2 -> "b@x.com", 3 -> "T(a@x.com)"))
    assert(!lambda.sentValues.contains("b@x.com"))
  }

  test("IF, COALESCE, NVL and the right side of AND/OR are guarded too") {
    lambda.reset()
    val df = spark.sql(
      """SELECT IF(cls = 'PII', tegridy_tokenize_hp(email), 'x') a,
        |       COALESCE(IF(cls = 'PII', 'kept', NULL), tegridy_tokenize_hp(concat('c1-', email))) b,
        |       NVL(IF(cls = 'PUBLIC', 'kept', NULL), tegridy_tokenize_hp(concat('c2-', email))) c,
        |       (cls = 'PUBLIC' AND tegridy_tokenize_hp(concat('c3-', email)) IS NOT NULL) d,
        |       (cls = 'PII' OR tegridy_tokenize_hp(concat('c4-', email)) IS NOT NULL) e
        |FROM customers""".stripMargin)
    df.collect()
    val sent = lambda.sentValues.toSet
    assert(!sent.contains("b@x.com"))            // IF: PUBLIC row not tokenized
    assert(!sent.exists(_.startsWith("c1-a@")))   // COALESCE: PII rows stop at 'kept'
    assert(!sent.contains("c2-b@x.com"))          // NVL: PUBLIC row stops at 'kept'
    assert(!sent.exists(_.startsWith("c3-a@")))   // AND: PII rows are false on the left
    assert(!sent.exists(_.startsWith("c4-a@")))   // OR: PII rows are true on the left
    assert(sent.contains("c1-b@x.com") && sent.contains("c3-b@x.com") && sent.contains("c4-b@x.com"))
  }

  test("calls over calls are peeled off one layer at a time") {
    val df = spark.sql("SELECT tegridy_detokenize_hp(tegridy_tokenize_hp(email)) AS back FROM customers")
    val plan = optimized(df)
    assert(batches(plan).size == 2 && callsLeft(plan).isEmpty)
    assert(df.collect().map(_.getString(0)).toSeq == Seq("a@x.com", "b@x.com", "a@x.com"))
  }

  test("transform(arr, x -> call(f(x))) and filter become the batched array form; a call reading the accumulator stays, still right") {
    val df = spark.sql("SELECT transform(array(email), x -> tegridy_tokenize_hp(x)) AS t FROM customers WHERE id = 2")
    assert(batches(optimized(df)).size == 1)
    assert(df.collect().head.getSeq[String](0) == Seq("T(b@x.com)"))
    val shaped = spark.sql("SELECT transform(array(email, NULL, ' '), x -> tegridy_tokenize_hp(upper(x))) AS t FROM customers WHERE id = 2")
    assert(batches(optimized(shaped)).size == 1)
    assert(shaped.collect().head.getSeq[String](0) == Seq("T(B@X.COM)", null, " "))
    val filtered = spark.sql("SELECT filter(array(email), x -> tegridy_tokenize_hp(x) IS NOT NULL) AS t FROM customers WHERE id = 2")
    assert(batches(optimized(filtered)).size == 1)
    assert(filtered.collect().head.getSeq[String](0) == Seq("b@x.com"))
    // A call that reads aggregate's accumulator cannot be made over the array: it stays, still right.
    val folded = spark.sql("SELECT aggregate(array(email), '', (acc, x) -> tegridy_tokenize_hp(concat(acc, x))) AS t FROM customers WHERE id = 2")
    assert(batches(optimized(folded)).isEmpty)
    assert(folded.collect().head.getString(0) == "T(b@x.com)")
  }

  test("EXPLAIN shows the node, and no setting") {
    val text = spark.sql("SELECT tegridy_tokenize_hp(email) FROM customers").queryExecution.explainString(
      org.apache.spark.sql.execution.ExtendedMode)
    assert(text.contains("BatchTokenize"))
    assert(!text.contains(lambda.endpoint))
  }
}
