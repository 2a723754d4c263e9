"""The engine's JVM entry points that Python calls through py4j, and the check that the running
session's JVM has the jar at all."""

from __future__ import annotations

from typing import Any

EXTENSIONS_CLASS = "com.tegridy.spark.TegridyExtensions"
REGISTRATION_CLASS = "com.tegridy.spark.TegridyRegistration"
ACCUMULATOR_CLASS = "com.tegridy.spark.metrics.TegridyAccumulator"


class JarNotOnClasspathError(RuntimeError):
    """`register` or `metrics` was called on a session whose JVM does not have the engine jar."""


def require_engine(spark: Any) -> Any:
    """The session's py4j JVM view, once the engine's classes are known to be loadable from it."""
    jvm = spark._jvm
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(REGISTRATION_CLASS, True, loader)
    except Exception:
        raise JarNotOnClasspathError(
            "the Tegridy engine jar is not on this session's classpath. Start the session with it: "
            "tegridy_tokens.configure_spark(SparkSession.builder, ...), or "
            "spark-submit --jars $(tegridy-tokens jar), or spark.jars=<path from tegridy_tokens.jar_path()>"
        ) from None
    return jvm


def accumulator(spark: Any) -> tuple[Any, Any]:
    """The `TegridyAccumulator` Scala object (its methods: `snapshot`, `latencyHistogram`, `reset`)
    and the SparkContext they take. Called on the object itself (`MODULE$`), not through the
    class's static forwarders: scalac emits none for a companion method whose name the class
    already has, as `reset(sc)` shares its name with the accumulator's own `reset()`."""
    jvm = require_engine(spark)
    return getattr(getattr(jvm.com.tegridy.spark.metrics, "TegridyAccumulator$"), "MODULE$"), spark._jsc.sc()
