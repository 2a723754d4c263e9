# Set-up, tests and the demo. `make demo` and `make test` do all of the set-up on a fresh machine:
# .venv/ with the pinned dependencies (the default Spark line's pyspark), sbt bootstrapped (build/sbt),
# one shaded jar per Spark line assembled and copied into the Python package, the package installed
# editable; for each other line a venv under .venvs/spark-X.Y/ with that line's pyspark. Each step
# reruns only when its inputs changed.

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
SBT := build/sbt
# The Spark lines (project/SparkLines.scala holds the same table for sbt): the default line, the
# newest, runs every suite in .venv; each other line runs the core end-to-end suite in its own venv.
DEFAULT_LINE := 4.2
OTHER_LINES := 3.5 4.0 4.1
LINES := $(OTHER_LINES) $(DEFAULT_LINE)
PYSPARK_3.5 := 3.5.9
PYSPARK_4.0 := 4.0.4
PYSPARK_4.1 := 4.1.3
SBT_PROJECT_3.5 := spark35
SBT_PROJECT_4.0 := spark40
SBT_PROJECT_4.1 := spark41
SBT_PROJECT_4.2 := spark
JARS := $(foreach line,$(LINES),python/tegridy_tokens/jars/tegridy-tokens-spark-$(line).jar)
ASSEMBLED_STAMP := jvm/target/.assembled
JVM_SOURCES := $(shell find jvm/src/main -type f 2>/dev/null) build.sbt project/build.properties project/plugins.sbt \
	project/SparkLines.scala
LINE_VENVS := $(foreach line,$(OTHER_LINES),.venvs/spark-$(line)/.installed)
# The core end-to-end suite: what every line must pass against its own pyspark.
CORE_TESTS := tests/test_spark_end_to_end.py tests/test_engine_end_to_end.py tests/test_spark_submit.py tests/test_iceberg.py
PYTEST_ARGS ?=

.PHONY: build test test-scala test-python test-lines demo bench bench-service bench-ingest bench-scale clean lambda-package

build: $(VENV)/.installed $(JARS) $(LINE_VENVS)

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is required"'
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade "pip>=23.2"
	$(VENV_PY) -m pip install --quiet -e ".[test,service-test]"
	touch $@

# One sbt run assembles every line's jar (starting sbt once is most of a small rebuild's time).
$(ASSEMBLED_STAMP): $(JVM_SOURCES)
	$(SBT) $(foreach line,$(LINES),"$(SBT_PROJECT_$(line))/assembly")
	touch $@

python/tegridy_tokens/jars/tegridy-tokens-spark-%.jar: $(ASSEMBLED_STAMP)
	cp jvm/target/spark-$*/tegridy-tokens-spark-$*.jar $@

# Another line's venv: its own pyspark, then the package with the core tests' dependencies.
.venvs/spark-%/.installed: pyproject.toml
	test -x .venvs/spark-$*/bin/python || $(PYTHON) -m venv .venvs/spark-$*
	.venvs/spark-$*/bin/python -m pip install --quiet --upgrade "pip>=23.2"
	.venvs/spark-$*/bin/python -m pip install --quiet "pyspark==$(PYSPARK_$*)" -e ".[test-core]"
	touch $@

test: build test-scala test-python test-lines

# Every suite on the default line; on each other line the suites that hold what differs by line
# (the shims, the jar's contents and the line it is built for).
LINE_SUITES := *ShimsSuite *InputFileBlockCellSuite *SparkLineCheckSuite *JarContentsSuite
test-scala: $(ASSEMBLED_STAMP)
	$(SBT) "spark/test" $(foreach line,$(OTHER_LINES),"$(SBT_PROJECT_$(line))/testOnly $(LINE_SUITES)")

test-python: build
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The core end-to-end suite on each other line, against that line's jar and pyspark.
test-lines: build
	set -e; for line in $(OTHER_LINES); do \
	  echo "== Spark $$line: core end-to-end suite"; \
	  .venvs/spark-$$line/bin/pytest -q $(CORE_TESTS) $(PYTEST_ARGS); \
	done

demo: build
	$(VENV)/bin/tegridy-tokens demo

# The benchmarks (minutes, not part of `make test`): the unique workload against the CPU-free fake
# fleet and its Little's-law bound; the four workloads with the cache pre-filled by another job
# (docs/benchmarks.{json,md,png}, the targets table); a JFR profile of the repeated path.
bench: build
	$(VENV)/bin/python benchmarks/fake_fleet.py
	$(VENV)/bin/python benchmarks/run.py --prefill 100000 --reps 5 $(BENCH_ARGS)
	$(VENV)/bin/python benchmarks/jfr_profile.py

# Seed 002's targets on the reference service over DynamoDB Local (fetched with mvn), then its
# throughput over HTTP (stateless and SQLite, 1 and 2 workers): figures into
# docs/service_benchmarks.json and docs/benchmarks.md (a few minutes).
bench-service: $(VENV)/.installed
	$(VENV_PY) benchmarks/service.py $(BENCH_ARGS)
	$(VENV_PY) benchmarks/service_throughput.py

# The ingestion benchmark: `ingest run` against a plain NDJSON -> Parquet conversion of the same
# 200K lines (three PII columns), median of 3; figures into docs/benchmarks_ingest.json and docs/benchmarks.md.
bench-ingest: build
	$(VENV)/bin/python benchmarks/ingest.py $(BENCH_ARGS)

# The AWS Lambda package: dist/tegridy-tokens-lambda.zip, the service core and its manylinux
# wheels for Lambda's Python 3.12 (LAMBDA_ARCH=arm64 for Graviton). See docs/deploy.md.
LAMBDA_ARCH ?= x86_64
lambda-package: $(VENV)/.installed
	$(VENV_PY) deploy/build_lambda_package.py --arch $(LAMBDA_ARCH)

clean:
	rm -rf $(VENV) .venvs jvm/target target project/target project/project python/tegridy_tokens/jars/*.jar python/*.egg-info dist build/lambda \
	  build/.go build/rie

# The scale runs (issue 15 §4): 50M rows of the repeated and zipf workloads with rows/s and live
# heap per 5M-row slice, and the repeated workload on a two-executor local-cluster (~15 minutes).
bench-scale: build
	$(VENV)/bin/python benchmarks/scale.py --local-cluster $(BENCH_ARGS)
