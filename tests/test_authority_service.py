"""The review's attacks on the local service, each refused: unsigned, wrong-secret, unknown-key and
stale requests (raw HTTP and boto3), a signature scoped to another service or region, a function
ARN of another account or region, a principal on a function it may not invoke, an unsigned read
of the stats, a principals file others may read, a foreign Host (DNS rebinding), a non-loopback
bind, a caller over its rate; and the split itself."""

from __future__ import annotations

import datetime
import http.client
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tegridy_tokens.service import local_service
from tegridy_tokens.service.auth import Principals

CANARY = "canary-authz-5e1b@example.com"
ETL = {"name": "etl", "access_key_id": "AKIDETL0000000000001", "secret_access_key": "etl-secret-1",
       "functions": ["tegridy-tokens"]}
ANALYST = {"name": "analyst", "access_key_id": "AKIDANALYST000000002", "secret_access_key": "analyst-secret-2",
           "functions": ["tegridy-tokens", "tegridy-tokens-detokenize"]}


def principals_file(tmp_path: Path) -> Path:
    path = tmp_path / "principals.json"
    path.write_text(json.dumps({"principals": [ETL, ANALYST]}))
    path.chmod(0o600)  # it holds secrets: a looser file is refused
    return path


def client_for(endpoint: str, who: dict | None = None, secret: str | None = None):
    who = who or ETL
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=who["access_key_id"],
                        aws_secret_access_key=secret or who["secret_access_key"],
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def raw_post(endpoint: str, function: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    host_port = endpoint.split("//")[1]
    connection = http.client.HTTPConnection(host_port, timeout=30)
    connection.request("POST", f"/2015-03-31/functions/{function}/invocations", body=body, headers=headers)
    response = connection.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    connection.close()
    return result


def signed_headers(endpoint: str, function: str, body: bytes, who: dict, when: datetime.datetime | None = None,
                   secret: str | None = None, service: str = "lambda", region: str = "us-east-1",
                   method: str = "POST", path: str | None = None) -> dict[str, str]:
    """Headers signed by botocore's SigV4 signer, at `when` (default now), for `service` in `region`."""
    path = path or f"/2015-03-31/functions/{function}/invocations"
    request = AWSRequest(method=method, url=f"{endpoint}{path}", data=body, headers={"Content-Type": "application/json"})
    signer = SigV4Auth(Credentials(who["access_key_id"], secret or who["secret_access_key"]), service, region)
    if when is None:
        signer.add_auth(request)
    else:  # botocore signs "now": sign at another time through its own steps
        request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        signer._inject_signature_to_request(request, signer.signature(signer.string_to_sign(request, canonical), request))
    return dict(request.headers.items())


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    home = tmp_path_factory.mktemp("authz")
    with local_service(vault=home / "vault.db", principals=Principals.load(principals_file(home))) as service:
        yield service


def error_code(status_headers_body) -> tuple[int, str]:
    status, headers, _ = status_headers_body
    return status, headers.get("x-amzn-errortype", "")


def test_unsigned_request_is_refused(secured):
    body = json.dumps({"requests": [{"data": CANARY}]}).encode()
    assert error_code(raw_post(secured.endpoint, "tegridy-tokens", body, {})) == (403, "MissingAuthenticationTokenException")
    # The review's exact attack: an unsigned detokenize.
    token_body = json.dumps({"tokens": ["tgr_anything"]}).encode()
    status, _, answer = raw_post(secured.endpoint, "tegridy-tokens-detokenize", token_body, {})
    assert status == 403 and b"tokens" not in answer


def test_wrong_secret_unknown_key_and_stale_timestamp_are_refused(secured):
    body = json.dumps({"requests": [{"data": CANARY}]}).encode()
    wrong = signed_headers(secured.endpoint, "tegridy-tokens", body, ETL, secret="not-the-secret")
    assert error_code(raw_post(secured.endpoint, "tegridy-tokens", body, wrong)) == (403, "InvalidSignatureException")
    stranger = dict(ETL, access_key_id="AKIDSTRANGER00000009")
    unknown = signed_headers(secured.endpoint, "tegridy-tokens", body, stranger)
    assert error_code(raw_post(secured.endpoint, "tegridy-tokens", body, unknown)) == (403, "UnrecognizedClientException")
    stale_time = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=6)
    stale = signed_headers(secured.endpoint, "tegridy-tokens", body, ETL, when=stale_time)
    assert error_code(raw_post(secured.endpoint, "tegridy-tokens", body, stale)) == (403, "InvalidSignatureException")
    # The same request signed now passes: the refusals above are about the signature alone.
    good = signed_headers(secured.endpoint, "tegridy-tokens", body, ETL)
    assert raw_post(secured.endpoint, "tegridy-tokens", body, good)[0] == 200
    # A signed request whose body was swapped afterwards: refused.
    swapped = json.dumps({"requests": [{"data": CANARY + "x"}]}).encode()
    assert error_code(raw_post(secured.endpoint, "tegridy-tokens", swapped, good)) == (403, "InvalidSignatureException")


def test_boto3_refusals(secured):
    payload = json.dumps({"requests": [{"data": CANARY}]})
    with pytest.raises(Exception) as wrong:
        client_for(secured.endpoint, ETL, secret="wrong").invoke(FunctionName="tegridy-tokens", Payload=payload)
    assert wrong.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(Exception) as unknown:
        client_for(secured.endpoint, dict(ETL, access_key_id="AKIDNOBODY0000000000")).invoke(
            FunctionName="tegridy-tokens", Payload=payload)
    assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_tokenize_only_principal_is_denied_the_detokenize_function(secured):
    etl = client_for(secured.endpoint, ETL)
    token = json.loads(etl.invoke(FunctionName="tegridy-tokens", Payload=json.dumps(
        {"requests": [{"data": CANARY}]}))["Payload"].read())["responses"][0]["token"]
    with pytest.raises(etl.exceptions.ClientError) as denied:
        etl.invoke(FunctionName="tegridy-tokens-detokenize", Payload=json.dumps({"tokens": [token]}))
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert CANARY not in str(denied.value) and token not in str(denied.value)
    # Detokenize sent to the tokenize function (which etl may invoke) is refused by the function itself.
    response = etl.invoke(FunctionName="tegridy-tokens", Payload=json.dumps({"tokens": [token]}))
    assert response["FunctionError"] == "Handled"
    assert json.loads(response["Payload"].read())["errorType"] == "AccessDenied"
    # A principal with detokenize rights gets the exact value back.
    analyst = client_for(secured.endpoint, ANALYST)
    answer = json.loads(analyst.invoke(FunctionName="tegridy-tokens-detokenize",
                                       Payload=json.dumps({"tokens": [token]}))["Payload"].read())
    assert answer == {"tokens": {token: CANARY}}


def test_foreign_host_is_refused(tmp_path):
    with local_service(vault=tmp_path / "vault.db") as service:
        body = json.dumps({"tokens": ["tgr_x"]}).encode()
        status, headers, answer = raw_post(service.endpoint, "tegridy-tokens-detokenize", body,
                                           {"Host": "attacker.example:9001"})
        assert status == 421 and b"loopback" in answer and b"tokens" not in answer
        assert raw_post(service.endpoint, "tegridy-tokens-detokenize", body, {"Host": "localhost:9001"})[0] == 200
        assert raw_post(service.endpoint, "tegridy-tokens-detokenize", body, {"Host": "[::1]:9001"})[0] == 200


def test_non_loopback_bind_is_refused_without_both_flags(tmp_path):
    for extra in ([], ["--allow-remote"], ["--principals", str(principals_file(tmp_path))]):
        result = subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "serve", "--host", "0.0.0.0", "--port", "0",
                                 "--vault", str(tmp_path / "vault.db"), *extra], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, extra
        assert "no TLS" in result.stderr and "--allow-remote" in result.stderr and "--principals" in result.stderr


def test_rate_limit_answers_429_with_retry_after_and_reason(tmp_path):
    with local_service(vault=tmp_path / "vault.db", max_values_per_second=10) as service:
        body = json.dumps({"requests": [{"data": f"{CANARY}-{i}"} for i in range(50)]}).encode()
        assert raw_post(service.endpoint, "tegridy-tokens", body, {})[0] == 200  # a full bucket admits a batch
        status, headers, answer = raw_post(service.endpoint, "tegridy-tokens", body, {})
        assert status == 429 and headers["x-amzn-errortype"] == "TooManyRequestsException"
        assert int(headers["retry-after"]) >= 4  # 40 values of debt at 10/s
        assert json.loads(answer)["Reason"] == "CallerRateLimitExceeded"


def vault_entries(vault: Path) -> int:
    with sqlite3.connect(vault) as connection:
        return connection.execute("SELECT count(*) FROM entries").fetchone()[0]


def test_a_signature_scoped_to_another_service_or_region_is_refused(tmp_path):
    vault = tmp_path / "vault.db"
    with local_service(vault=vault, principals=Principals.load(principals_file(tmp_path))) as service:
        body = json.dumps({"requests": [{"data": CANARY + "-scope"}]}).encode()
        before = vault_entries(vault)
        for scope, words in ((("s3", "eu-west-1"), "service: 'lambda'"), (("s3", "us-east-1"), "service: 'lambda'"),
                             (("lambda", "eu-west-1"), "region")):
            headers = signed_headers(service.endpoint, "tegridy-tokens", body, ETL, service=scope[0], region=scope[1])
            status, answer_headers, answer = raw_post(service.endpoint, "tegridy-tokens", body, headers)
            assert (status, answer_headers["x-amzn-errortype"]) == (403, "InvalidSignatureException"), scope
            assert words in json.loads(answer)["Message"] and b"tgr_" not in answer
        assert vault_entries(vault) == before
        good = signed_headers(service.endpoint, "tegridy-tokens", body, ETL)
        assert raw_post(service.endpoint, "tegridy-tokens", body, good)[0] == 200
    # A server standing for eu-west-1 takes eu-west-1 signatures, and refuses us-east-1 ones.
    with local_service(vault=vault, principals=Principals.load(principals_file(tmp_path)), region="eu-west-1") as service:
        west = signed_headers(service.endpoint, "tegridy-tokens", body, ETL, region="eu-west-1")
        assert raw_post(service.endpoint, "tegridy-tokens", body, west)[0] == 200
        east = signed_headers(service.endpoint, "tegridy-tokens", body, ETL)
        assert error_code(raw_post(service.endpoint, "tegridy-tokens", body, east)) == (403, "InvalidSignatureException")


def test_a_function_arn_of_another_account_or_region_is_not_served(secured):
    body = json.dumps({"requests": [{"data": CANARY + "-arn"}]}).encode()
    own = "arn:aws:lambda:us-east-1:000000000000:function:tegridy-tokens"
    for name in (own, "000000000000:function:tegridy-tokens", own + ":$LATEST"):
        headers = signed_headers(secured.endpoint, name, body, ETL)
        assert raw_post(secured.endpoint, name, body, headers)[0] == 200, name
    for name, status, words in (("arn:aws:lambda:us-east-1:123456789012:function:tegridy-tokens", 404, "Function not found"),
                                ("123456789012:function:tegridy-tokens", 404, "Function not found"),
                                ("arn:aws:lambda:eu-west-1:000000000000:function:tegridy-tokens", 404,
                                 "not reachable in this region"),
                                ("arn:aws:lambda:eu-west-1:123456789012:function:tegridy-tokens", 404, "")):
        headers = signed_headers(secured.endpoint, name, body, ETL)
        got, answer_headers, answer = raw_post(secured.endpoint, name, body, headers)
        assert (got, answer_headers["x-amzn-errortype"]) == (status, "ResourceNotFoundException"), name
        assert words in json.loads(answer)["Message"] and b"tgr_" not in answer


def test_the_stats_need_a_signature_under_principals(secured):
    host_port = secured.endpoint.split("//")[1]

    def get(headers):
        connection = http.client.HTTPConnection(host_port, timeout=30)
        connection.request("GET", "/_tegridy/stats", headers=headers)
        response = connection.getresponse()
        result = response.status, response.getheader("x-amzn-ErrorType"), response.read()
        connection.close()
        return result

    status, error_type, body = get({})
    assert (status, error_type) == (403, "MissingAuthenticationTokenException") and b"invocations" not in body
    wrong = signed_headers(secured.endpoint, "", b"", ETL, secret="wrong", method="GET", path="/_tegridy/stats")
    assert get(wrong)[:2] == (403, "InvalidSignatureException")
    good = signed_headers(secured.endpoint, "", b"", ETL, method="GET", path="/_tegridy/stats")
    status, _, body = get(good)
    assert status == 200 and "invocations" in json.loads(body)


def test_a_principals_file_others_may_read_is_refused(tmp_path):
    from tegridy_tokens.service.errors import ConfigurationError

    path = principals_file(tmp_path)
    for mode in (0o644, 0o640, 0o604, 0o660):
        path.chmod(mode)
        with pytest.raises(ConfigurationError) as refused:
            Principals.load(path)
        assert str(path) in str(refused.value) and f"chmod 600 {path}" in str(refused.value)
        assert ETL["secret_access_key"] not in str(refused.value)
    path.chmod(0o644)
    result = subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "serve", "--port", "0", "--principals", str(path),
                             "--vault", str(tmp_path / "vault.db")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "chmod 600" in result.stderr and str(path) in result.stderr
    path.chmod(0o600)
    assert len(Principals.load(path).by_key) == 2
    path.chmod(0o400)
    assert len(Principals.load(path).by_key) == 2


def test_a_signed_payload_hash_authenticates_the_headers_and_then_the_body(secured):
    import hashlib

    body = json.dumps({"requests": [{"data": CANARY + "-hash"}]}).encode()
    path = "/2015-03-31/functions/tegridy-tokens/invocations"

    def signed_with_hash(declared: str, secret: str | None = None) -> dict[str, str]:
        request = AWSRequest(method="POST", url=f"{secured.endpoint}{path}", data=body,
                             headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": declared})
        SigV4Auth(Credentials(ETL["access_key_id"], secret or ETL["secret_access_key"]), "lambda", "us-east-1").add_auth(request)
        return dict(request.headers.items())

    good = signed_with_hash(hashlib.sha256(body).hexdigest())
    assert "x-amz-content-sha256" in good["Authorization"]
    assert raw_post(secured.endpoint, "tegridy-tokens", body, good)[0] == 200
    # A body other than the one whose hash was signed; a signature made with another secret.
    assert error_code(raw_post(secured.endpoint, "tegridy-tokens", body + b" ", good)) == (403, "InvalidSignatureException")
    wrong = signed_with_hash(hashlib.sha256(body).hexdigest(), secret="not-the-secret")
    assert error_code(raw_post(secured.endpoint, "tegridy-tokens", body, wrong)) == (403, "InvalidSignatureException")
