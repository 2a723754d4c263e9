"""The Lambda package under AWS's own runtime: the unzipped `make lambda-package` output, run by
awslambdaric under the Runtime Interface Emulator, two functions over one DynamoDB Local vault
with KMS on moto, as the template deploys them."""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import string
import subprocess
import sys
import zipfile

import pytest

from aws_local import RieInstance, fetch_rie, lambda_python, runtime_venv
from test_lambda_package import builder

CANARY = "canary-5e19-rie@example.com"

pytestmark = pytest.mark.skipif(shutil.which("go") is None,
                                reason="Go is not installed: the suite builds aws-lambda-rie with `go install`")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """(aws-lambda-rie, the runtime's python, the unzipped package built for that python)."""
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if arch is None or sys.platform != "linux":
        pytest.skip("aws-lambda-rie and the package's manylinux wheels run on Linux x86_64 or arm64 only")
    rie = fetch_rie()
    python, version = lambda_python()
    work = tmp_path_factory.mktemp("rie-package")
    out = work / "tegridy-tokens-lambda.zip"
    builder().build(out, arch, version, work=work / "build")
    package = work / "unzipped"
    zipfile.ZipFile(out).extractall(package)
    return rie, runtime_venv(python, version), package


def test_two_functions_under_the_lambda_runtime_share_one_vault(runtime, vault_table, kms_local, aws_env, tmp_path):
    import boto3

    rie, python, package = runtime
    # The audit key as the template's secret makes it: 43 letters and digits, and a "=".
    audit_key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(43)) + "="
    env = dict(aws_env, AWS_ENDPOINT_URL_KMS=kms_local)
    kms = boto3.client("kms", endpoint_url=kms_local)
    tokenize_key, detokenize_key = (kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2))
    url = f"dynamodb://{vault_table}"
    made = subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "keys", "init", "--vault", url,
                           "--tokenize-kms-key", tokenize_key, "--detokenize-kms-key", detokenize_key],
                          capture_output=True, text=True, env=dict(os.environ, **env))
    assert made.returncode == 0, made.stderr
    instances = {}
    for name, operations in (("both", "tokenize,detokenize"), ("tokenize", "tokenize")):
        home = tmp_path / name
        home.mkdir()
        instances[name] = RieInstance(rie, python, package, dict(env, TEGRIDY_VAULT=url, TEGRIDY_OPERATIONS=operations,
                                                                     TEGRIDY_AUDIT_KEY=audit_key), home)
    values = [CANARY] + [f"user{i}@example.com" for i in range(99)]
    try:
        answers = {name: instance.invoke({"requests": [{"data": v} for v in values]})
                   for name, instance in instances.items()}
        tokens = {name: [r["token"] for r in answer["responses"]] for name, answer in answers.items()}
        both_values = [f"only-both-{i}@example.com" for i in range(10)]
        both_tokens = [r["token"] for r in instances["both"].invoke({"requests": [{"data": v} for v in both_values]})["responses"]]
        opened = instances["both"].invoke({"tokens": tokens["tokenize"]})
        refused = instances["tokenize"].invoke({"tokens": both_tokens})
        vaulted_again = instances["tokenize"].invoke({"requests": [{"data": v} for v in both_values]})
    finally:
        logs = {name: instance.close() for name, instance in instances.items()}
    assert tokens["both"] == tokens["tokenize"] and len(set(tokens["both"])) == 100
    # The detokenizing function opens the entries the other one wrote.
    assert opened == {"tokens": dict(zip(tokens["tokenize"], values))}
    # The tokenize-only function refuses detokenize; it holds no key that opens the vault.
    assert refused["errorType"] == "AccessDenied" and "TEGRIDY_OPERATIONS" in refused["errorMessage"]
    assert not any(token in refused["errorMessage"] for token in both_tokens)
    assert [r["token"] for r in vaulted_again["responses"]] == both_tokens
    for name, log in logs.items():
        # The emulator ran the runtime client in the runtime's own python, which imported the handler.
        assert f"exec '{python}'" in log and "Runtime.ImportModuleError" not in log, log[-2000:]
        assert CANARY not in log and tokens["both"][0] not in log, name
    # The detokenize line holds the tokens' HMACs under the audit key, not null.
    [line] = [json.loads(l) for l in logs["both"].splitlines() if l.startswith("{") and '"detokenize"' in l]
    assert len(line["token_hmacs"]) == len(tokens["tokenize"])
