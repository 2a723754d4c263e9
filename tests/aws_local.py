"""Real local stand-ins for AWS, started by the tests themselves: DynamoDB Local (AWS's own
implementation, fetched from Maven Central with `mvn`) and moto's server (for KMS only); an older
AWS SDK's jars, fetched the same way, for the classpath-clash test. Also
`HandlerProcess`: the Lambda handler in a process of its own, driven as the runtime drives it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DYNAMODB_LOCAL = HERE / "dynamodb_local"
OLDER_AWS_SDK = HERE / "older_aws_sdk"
# DynamoDB Local 2.x accepts access key ids of letters and digits only.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "tegridylocal", "AWS_SECRET_ACCESS_KEY": "tegridylocal",
               "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:.0f} s")


def maven_fetch(folder: Path, what: str) -> Path:
    """`folder`/lib/: the jars of the tiny pom in `folder`, fetched once from Maven Central with
    `mvn dependency:copy-dependencies` (lib/ is git-ignored)."""
    lib = folder / "lib"
    done = lib / ".fetched"
    if not done.exists():
        if shutil.which("mvn") is None:
            raise RuntimeError(f"the tests that use {what} need Maven (`mvn`) to fetch it from Maven Central")
        subprocess.run(["mvn", "-q", "-B", "dependency:copy-dependencies", "-DoutputDirectory=lib"],
                       cwd=folder, check=True)
        done.touch()
    return lib


def fetch_dynamodb_local() -> Path:
    """The folder of DynamoDB Local's jars and sqlite4java's native library."""
    lib = maven_fetch(DYNAMODB_LOCAL, "DynamoDB Local")
    if not list(lib.glob("libsqlite4java-linux-amd64-*.so")):
        (lib / ".fetched").unlink()
        raise RuntimeError("Maven fetched DynamoDB Local without sqlite4java's linux-amd64 library")
    return lib


def fetch_older_aws_sdk() -> list[Path]:
    """The jars of an older AWS SDK v2 Lambda client (tests/older_aws_sdk/pom.xml), as a cluster
    such as EMR or Glue puts them on the classpath."""
    return sorted(maven_fetch(OLDER_AWS_SDK, "an older AWS SDK").glob("*.jar"))


def start_dynamodb_local(workdir: Path) -> tuple[subprocess.Popen, str]:
    lib = fetch_dynamodb_local()
    port = free_port()
    command = ["java", f"-Djava.library.path={lib}", "-cp", f"{lib}/*",
               "com.amazonaws.services.dynamodbv2.local.main.ServerRunner", "-inMemory", "-port", str(port)]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, "DynamoDB Local")
    return process, f"http://127.0.0.1:{port}"


def start_moto(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, "moto server")
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


class HandlerProcess:
    """`lambda_handler` in its own Python process (tests/lambda_worker.py), one event at a time."""

    def __init__(self, env: dict[str, str], home: Path, python: list[str] | None = None, package: Path | None = None):
        command = [*(python or [sys.executable]), str(HERE / "lambda_worker.py")]
        if package is not None:
            command += ["--path", str(package)]
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("TEGRIDY_", "PYTHON"))}
        environment.update(env, HOME=str(home), TMPDIR=str(home))
        self.audit_lines: list[str] = []
        self.process = subprocess.Popen(command, cwd=home, env=environment, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """The answer; the audit lines the handler printed to stdout (CloudWatch) go to `audit_lines`."""
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("handler process died: " + self.process.stderr.read())
            answer = json.loads(line)
            if isinstance(answer, dict) and "prev" in answer and "seq" in answer:
                self.audit_lines.append(line.rstrip("\n"))
                continue
            return answer

    def invoke(self, event: Any, remaining_ms: int = 60000) -> dict[str, Any]:
        return self.call({"event": event, "remaining_ms": remaining_ms})

    def close(self) -> str:
        """Stops the process and returns what it wrote to stderr (searched for values)."""
        self.process.stdin.close()
        self.process.wait(30)
        output = self.process.stdout.read() + self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return output


# AWS's own Lambda runtime, as a container image runs it: the Runtime Interface Emulator (Go,
# built from the Go module proxy into the git-ignored build/.go/) and awslambdaric (PyPI).
RIE_MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
RIE_VERSION = "v0.0.0-20261030222936-bef5c4ba774d"
BUILD = HERE.parent / "build"


def fetch_rie() -> Path:
    """aws-lambda-rie, built once with `go install` into build/.go/bin."""
    go = BUILD / ".go"
    binary = go / "bin" / "aws-lambda-rie"
    stamp = go / f".rie-{RIE_VERSION}"
    if not (stamp.exists() and binary.exists()):
        env = dict(os.environ, GOBIN=str(go / "bin"), GOPATH=str(go), GOMODCACHE=str(go / "mod"),
                   GOCACHE=str(go / "cache"), GOFLAGS="-modcacherw")  # -modcacherw: `rm -rf build/.go` works
        subprocess.run(["go", "install", f"{RIE_MODULE}@{RIE_VERSION}"], env=env, check=True)
        stamp.touch()
    return binary


def lambda_python() -> tuple[Path, str]:
    """(interpreter, "X.Y") for the runtime: pyenv's 3.12, Lambda's own version, when there is one;
    else the interpreter running the tests (the package is then built for it)."""
    found = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python"))
    if found:
        return found[-1], "3.12"
    return Path(sys.executable), f"{sys.version_info.major}.{sys.version_info.minor}"


def runtime_venv(python: Path, version: str) -> Path:
    """build/rie/py<version>/: a venv holding what Lambda's Python runtime has (awslambdaric, boto3)."""
    venv = BUILD / "rie" / f"py{version}"
    stamp = venv / ".installed"
    if not (stamp.exists() and (venv / "bin" / "python").exists()):
        subprocess.run([str(python), "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "awslambdaric>=3,<5", "boto3>=1.34,<2"], check=True)
        stamp.touch()
    return venv / "bin" / "python"


class RieInstance:
    """One function under aws-lambda-rie: the unzipped package, run by awslambdaric in `python`,
    behind the emulator's invoke API on its own port and its own runtime API port."""

    def __init__(self, rie: Path, python: Path, package: Path, env: dict[str, str], home: Path):
        self.port, runtime_api = free_port(), free_port()
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith(("TEGRIDY_", "PYTHON", "VIRTUAL_ENV", "AWS_"))}
        environment.update(env, HOME=str(home), TMPDIR=str(home), PYTHONPATH=str(package), LAMBDA_TASK_ROOT=str(package))
        command = [str(rie), "--runtime-api-address", f"127.0.0.1:{runtime_api}",
                   "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
                   str(python), "-m", "awslambdaric", "tegridy_tokens.service.handler.lambda_handler"]
        self.log = home / "rie.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, cwd=package, env=environment, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process, "aws-lambda-rie")

    def invoke(self, event: Any) -> Any:
        """The function's answer (a function error is its {"errorType", "errorMessage"} body)."""
        import urllib.request

        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
                                         data=json.dumps(event).encode("utf-8"), method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def close(self) -> str:
        """Stops the emulator and the runtime; returns what they logged (searched for values)."""
        stop(self.process)
        return self.log.read_text(errors="replace")
