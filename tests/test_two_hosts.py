"""Speculation and a lost executor on a real standalone cluster of two hosts: a master and two
workers started from pyspark's own `spark-class`, one worker on 127.0.0.1 and one on 127.0.0.2 (Spark
never starts a speculative copy on the host that runs the original, so one host cannot show it).
The job (tests/speculation_job.py) goes through spark-submit with the real jar against the real
reference service; every token is checked against the service, and the engine's invocations are
compared with the service's own counters."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import pyspark
import tegridy_tokens
from conftest import REPO, lambda_client
from speculation_job import ROWS, value
from tegridy_tokens.service import local_service

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_port(host: str, port: int, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout_s} s")


@contextmanager
def two_host_cluster(tmp_path: Path):
    """spark://… of a standalone master with a one-core worker on each of two loopback hosts."""
    env = dict(os.environ, SPARK_HOME=str(SPARK_CLASS.parent.parent), SPARK_LOG_DIR=str(tmp_path / "logs"),
               PYSPARK_PYTHON=sys.executable)
    port = free_port("127.0.0.1")
    processes = []
    logs = []

    def start(*arguments: str) -> None:
        log = open(tmp_path / f"daemon-{len(processes)}.log", "w")
        logs.append(log)
        processes.append(subprocess.Popen([str(SPARK_CLASS), *arguments], stdout=log, stderr=subprocess.STDOUT, env=env))

    try:
        start("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port), "--webui-port",
              str(free_port("127.0.0.1")))
        wait_for_port("127.0.0.1", port)
        master = f"spark://127.0.0.1:{port}"
        for host in ("127.0.0.1", "127.0.0.2"):
            start("org.apache.spark.deploy.worker.Worker", "--host", host, "--cores", "1", "--memory", "1g",
                  "--webui-port", str(free_port(host)), "--work-dir", str(tmp_path / f"work-{host}"), master)
        time.sleep(3)  # the workers register with the master
        yield master
    finally:
        for process in processes:
            process.kill()
            process.wait()
        for log in logs:
            log.close()


def submit(master: str, service, mode: str, *settings: str) -> dict:
    command = [
        str(Path(sys.executable).with_name("spark-submit")), "--master", master,
        "--jars", tegridy_tokens.jar_path(),
        "--conf", "spark.driver.host=127.0.0.1",
        "--conf", "spark.sql.extensions=com.tegridy.spark.TegridyExtensions",
        "--conf", f"spark.tegridy.lambda.functionName={service.function_name}",
        "--conf", f"spark.tegridy.lambda.endpoint={service.endpoint}",
        "--conf", "spark.tegridy.batch.maxRows=50",
        "--conf", "spark.tegridy.cache.maxEntries=0",
        "--conf", "spark.executor.memory=768m",
        "--conf", "spark.ui.enabled=false",
        "--conf", f"spark.pyspark.python={sys.executable}",
        *settings,
        str(REPO / "tests" / "speculation_job.py"), mode,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYSPARK_PYTHON=sys.executable))
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_exact(service, tokens: dict, mode: str) -> None:
    """Every row has a token, and the service itself detokenizes each to its own row's value."""
    assert sorted(int(i) for i in tokens) == list(range(ROWS))
    client = lambda_client(service.endpoint)
    ordered = [tokens[str(i)] for i in range(ROWS)]
    found: dict = {}
    for start in range(0, ROWS, 500):
        answer = client.invoke(FunctionName=service.detokenize_function_name,
                               Payload=json.dumps({"tokens": ordered[start:start + 500]}))
        found.update(json.loads(answer["Payload"].read())["tokens"])
    assert all(found.get(ordered[i]) == value(mode, i) for i in range(ROWS))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.skip("needs a second loopback host (127.0.0.2), which Linux routes and macOS does not")
    with two_host_cluster(tmp_path_factory.mktemp("cluster")) as master:
        yield master


def test_a_speculative_copy_on_the_other_host_is_exact_and_its_calls_are_counted(cluster, tmp_path):
    with local_service(vault=tmp_path / "vault.db") as service:
        before = service.stats()
        result = submit(cluster, service, "speculate",
                        "--conf", "spark.speculation=true", "--conf", "spark.speculation.interval=200ms",
                        "--conf", "spark.speculation.quantile=0.5", "--conf", "spark.speculation.multiplier=1.5",
                        "--conf", "spark.speculation.minTaskRuntime=500ms",
                        "--conf", "spark.speculation.efficiency.enabled=false")
        received = service.stats()["invocations"] - before["invocations"]
        assert_exact(service, result["tokens"], "speculate")
    engine = result["figures"]["invocations"]
    print(f"\nspeculation: engine invocations {engine:.0f}, service invocations {received}")
    # Both attempts of the slow partition called the service: the loser's calls too are counted
    # (sent to the driver when it is killed). An attempt killed as its last bytes left may count
    # one call per in-flight slot that the service never read (maxInFlight, 16).
    assert received > ROWS / 50  # the copy really ran: more calls than one pass over the rows
    assert received <= engine <= received + 16
    assert result["figures"]["errors"] == 0


def test_a_lost_executor_is_retried_exact_and_the_gap_in_its_figures_is_measured(cluster, tmp_path):
    with local_service(vault=tmp_path / "vault.db") as service:
        before = service.stats()
        result = submit(cluster, service, "kill", "--conf", "spark.task.maxFailures=4")
        received = service.stats()["invocations"] - before["invocations"]
        assert_exact(service, result["tokens"], "kill")
    engine = result["figures"]["invocations"]
    print(f"\nlost executor: engine invocations {engine:.0f}, service invocations {received} "
          f"(gap {received - engine:.0f}: the killed JVM's own figures die with it)")
    # A JVM killed with -9 sends nothing: the calls of its attempts are the gap, never more.
    assert engine <= received
    assert received - engine <= ROWS / 50 / 4 * 2 + 16  # at most the lost partition's calls
