"""Helpers shared by the ingestion tests: writing ingest.toml, landing NDJSON files, running the
`tegridy-tokens` CLI as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def write_config(folder: Path, state: str | None = None, spark: dict[str, Any] | None = None, **ingest: Any) -> Path:
    lines = ["[ingest]", f'landing = "{folder / "landing"}"', f'output = "{folder / "out"}"']
    if state:
        lines.append(f'state = "{state}"')
    for key, value in ingest.items():
        lines.append(f"{key} = {_toml(value)}")
    if spark:
        lines.append("[spark]")
        lines += [f'"{key}" = {_toml(value)}' for key, value in spark.items()]
    path = folder / "ingest.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'{json.dumps(k)} = {_toml(v)}' for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def land(folder: Path, name: str, records: list[Any]) -> Path:
    """Writes records (dicts become JSON lines, strings are written as they are) to landing/name."""
    path = folder / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records),
                    encoding="utf-8")
    return path


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    environment = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", *args], capture_output=True, text=True,
                          env=environment, timeout=timeout)


def cli_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    done = cli(*args, "--json", env=env)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else done.stderr


def count_rows(output: Path, corrupt: bool = False) -> int:
    """Rows in the Parquet under `output` (its `_corrupt/` part when `corrupt`), read with pyarrow, so
    a test counts them without a Spark of its own."""
    import pyarrow.parquet as pq

    root = output / "_corrupt" if corrupt else output
    return sum(pq.read_metadata(p).num_rows for p in root.glob("_ingest_date=*/_manifest_id=*/*.parquet"))


HADOOP_AWS = Path(__file__).resolve().parent / "hadoop_aws"


def hadoop_version() -> str:
    """The Hadoop version of the installed pyspark (its hadoop-client-api jar's)."""
    import pyspark

    jars = sorted((Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar"))
    if not jars:
        raise RuntimeError("pyspark's jars hold no hadoop-client-api jar, so its Hadoop version is unknown")
    return jars[0].name[len("hadoop-client-api-"):-len(".jar")]


def fetch_hadoop_aws(version: str) -> list[Path]:
    """hadoop-aws at `version` and its runtime jars (the AWS SDK bundle), fetched once from Maven
    Central with `mvn` into tests/hadoop_aws/lib-<version>/ (git-ignored)."""
    import shutil

    lib = HADOOP_AWS / f"lib-{version}"
    done = lib / ".fetched"
    if not done.exists():
        if shutil.which("mvn") is None:
            raise RuntimeError("the S3 tests need Maven (`mvn`) to fetch hadoop-aws from Maven Central")
        subprocess.run(["mvn", "-q", "-B", "dependency:copy-dependencies", f"-Dhadoop.version={version}",
                        f"-DoutputDirectory={lib.name}", "-DincludeScope=runtime"], cwd=HADOOP_AWS, check=True)
        done.touch()
    return sorted(lib.glob("*.jar"))
