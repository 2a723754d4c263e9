# Set-up, tests and the demo. `make demo` and `make test` do all of the set-up on a fresh machine:
# .venv/ with the pinned dependencies, sbt bootstrapped (build/sbt), the shaded jar assembled and
# copied into the Python package, the package installed editable. Each step reruns only when its
# inputs changed.

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
SBT := build/sbt
JAR := python/tegridy_tokens/jars/tegridy-tokens-spark.jar
ASSEMBLED := jvm/target/scala-2.13/tegridy-tokens-spark.jar
JVM_SOURCES := $(shell find jvm/src/main -type f 2>/dev/null) build.sbt project/build.properties project/plugins.sbt
PYTEST_ARGS ?=

.PHONY: build test test-scala test-python demo bench bench-service bench-ingest bench-scale clean lambda-package

build: $(VENV)/.installed $(JAR)

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is required"'
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade "pip>=23.2"
	$(VENV_PY) -m pip install --quiet -e ".[test,service-test]"
	touch $@

$(ASSEMBLED): $(JVM_SOURCES)
	$(SBT) "spark/assembly"
	touch $@

$(JAR): $(ASSEMBLED)
	cp $(ASSEMBLED) $(JAR)

test: build test-scala test-python

test-scala: $(ASSEMBLED)
	$(SBT) "spark/test"

test-python: build
	$(VENV)/bin/pytest $(PYTEST_ARGS)

demo: build
	$(VENV)/bin/tegridy-tokens demo

# The benchmarks (minutes, not part of `make test`): figures into docs/benchmarks.{json,md,png}.
# Then the unique workload against the CPU-free fake fleet, against its Little's-law bound.
bench: build
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)
	$(VENV)/bin/python benchmarks/fake_fleet.py

# Seed 002's targets on the reference service over DynamoDB Local (fetched with mvn), then its
# throughput over HTTP (stateless and SQLite, 1 and 2 workers): figures into
# docs/service_benchmarks.json and docs/benchmarks.md (a few minutes).
bench-service: $(VENV)/.installed
	$(VENV_PY) benchmarks/service.py $(BENCH_ARGS)
	$(VENV_PY) benchmarks/service_throughput.py

# The ingestion benchmark (issue 14): 100 NDJSON files of ~3.5 MB, three PII columns, the conversion
# with and without tokenization; figures into docs/benchmarks_ingest.json and docs/benchmarks.md.
bench-ingest: build
	$(VENV)/bin/python benchmarks/ingest.py $(BENCH_ARGS)

# The AWS Lambda package: dist/tegridy-tokens-lambda.zip, the service core and its manylinux
# wheels for Lambda's Python 3.12 (LAMBDA_ARCH=arm64 for Graviton). See docs/deploy.md.
LAMBDA_ARCH ?= x86_64
lambda-package: $(VENV)/.installed
	$(VENV_PY) deploy/build_lambda_package.py --arch $(LAMBDA_ARCH)

clean:
	rm -rf $(VENV) jvm/target target project/target project/project $(JAR) python/*.egg-info dist build/lambda

# The scale runs (issue 15 §4): 50M rows of the repeated and zipf workloads with rows/s and live
# heap per 5M-row slice, and the repeated workload on a two-executor local-cluster (~15 minutes).
bench-scale: build
	$(VENV)/bin/python benchmarks/scale.py --local-cluster $(BENCH_ARGS)
