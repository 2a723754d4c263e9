"""The Lambda package (`make lambda-package`): within Lambda's size limits, only the service core,
and the handler imports and serves from the unzipped package under `python -S`."""

from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aws_local import HandlerProcess

REPO = Path(__file__).resolve().parent.parent
CANARY = "canary-0a4f-lambda-package@example.com"


def builder():
    spec = importlib.util.spec_from_file_location("build_lambda_package", REPO / "deploy" / "build_lambda_package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_package_is_within_lambda_limits_and_holds_only_the_core(tmp_path):
    out = tmp_path / "tegridy-tokens-lambda.zip"
    sizes = builder().build(out, "x86_64", "3.12", work=tmp_path / "work")
    unzipped = sum(info.file_size for info in zipfile.ZipFile(out).infolist())
    assert sizes["unzipped"] == unzipped
    assert out.stat().st_size <= 50 * 1024 * 1024 and unzipped <= 250 * 1024 * 1024
    names = zipfile.ZipFile(out).namelist()
    assert "tegridy_tokens/service/handler.py" in names
    tops = {name.split("/")[0] for name in names}
    assert not tops & {"pyspark", "aiohttp", "py4j", "boto3", "botocore", "pandas"}
    assert not {"tegridy_tokens/service/server.py", "tegridy_tokens/service/local.py", "tegridy_tokens/cli.py"} & set(names)
    assert any(name.startswith("cryptography/hazmat/bindings/_rust") and "manylinux" not in name for name in names)
    assert any(name.endswith("cpython-312-x86_64-linux-gnu.so") for name in names)  # built for Lambda's 3.12


def test_handler_serves_from_the_unzipped_package_with_python_S(tmp_path):
    # cryptography's Rust core is abi3, but it loads cffi's _cffi_backend, which is built per
    # Python version: so this test builds the same package for the interpreter running it.
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if arch is None or sys.platform != "linux":
        pytest.skip("manylinux wheels run on Linux x86_64 or arm64 only")
    out = tmp_path / "package.zip"
    builder().build(out, arch, f"{sys.version_info.major}.{sys.version_info.minor}", work=tmp_path / "work")
    package = tmp_path / "unzipped"
    zipfile.ZipFile(out).extractall(package)
    url, keyring = f"sqlite://{tmp_path}/vault.db", str(tmp_path / "keyring.json")
    made = subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "keys", "init", "--vault", url, "--keyring", keyring],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    home = tmp_path / "home"
    home.mkdir()
    instance = HandlerProcess({"TEGRIDY_VAULT": url, "TEGRIDY_KEYRING": keyring, "TEGRIDY_OPERATIONS": "both"},
                              home, python=[sys.executable, "-S"], package=package)
    try:
        responses = instance.invoke({"requests": [{"data": CANARY}, {"data": "b@example.com"}]})["result"]["responses"]
        tokens = [r["token"] for r in responses]
        opened = instance.invoke({"tokens": tokens})["result"]["tokens"]
        # The Redshift Lambda-UDF shape too (both operations here: chosen by external_function).
        redshift = instance.invoke({"request_id": "r1", "cluster": "app", "user": "u", "database": "d", "query_id": 1,
                                    "external_function": "tegridy_detokenize_hp", "num_records": 2,
                                    "arguments": [[tokens[0]], ["tgr_unknown"]]})["result"]
        loaded = instance.call({"probe": "modules"})
    finally:
        output = instance.close()
    assert opened == {tokens[0]: CANARY, tokens[1]: "b@example.com"}
    assert redshift == {"success": True, "num_records": 2, "results": [CANARY, None]}
    assert Path(loaded["handler_file"]).is_relative_to(package)
    assert not any(part.endswith("site-packages") for part in loaded["path"])
    assert not {"aiohttp", "pyspark", "boto3", "botocore", "site"} & set(loaded["modules"])
    assert CANARY not in output


def test_handler_module_imports_no_server_and_no_spark():
    code = ("import sys; sys.modules['pyspark'] = None; sys.modules['aiohttp'] = None; sys.modules['boto3'] = None; "
            "import tegridy_tokens.service.handler; import tegridy_tokens.service; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_package_requirements_equal_the_service_extra():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    lines = (REPO / "deploy" / "lambda-requirements.txt").read_text().splitlines()
    assert [line for line in lines if line and not line.startswith("#")] == extras["service"]
