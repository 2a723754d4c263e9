"""Who is calling the local server: the `--principals` file (refused if others may read it), AWS
SigV4 checked with botocore's own signer (never a hand-rolled one), its credential scope (service
`lambda`, the server's region), the loopback rules for `Host` and `--host`, and each principal's
rate limit. Every refusal is the typed error real Lambda gives (docs/security.md).

The headers are checked before the body is read: an unsigned, unknown, stale or mis-scoped
request is refused without reading it, and one that declares its payload hash
(X-Amz-Content-SHA256) has its signature checked over that hash first, then the body against it.

Each principal may list `detokenize_scopes`, the scopes whose tokens it may detokenize (names,
or "*" for every scope). Without the list it may detokenize the default scope only, so a file
written before scopes existed grants no new scope.

Without a principals file the server is in loopback-only development mode: every caller is the
principal `local-dev`, allowed on every function and every scope.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import os
import re
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Optional

from .errors import ConfigurationError
from .scopes import ALL_SCOPES, parse_scopes

# Lambda's own words for each refusal.
MISSING = "MissingAuthenticationTokenException"
UNRECOGNIZED = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"
ACCESS_DENIED = "AccessDeniedException"

MAX_CLOCK_SKEW_S = 300
DEV_PRINCIPAL = "local-dev"
SERVICE = "lambda"

_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]+)")


class Refused(Exception):
    """A request refused before it reaches the handler: HTTP status, Lambda error type, message."""

    def __init__(self, status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None,
                 extra: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


@dataclass(frozen=True)
class Principal:
    name: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    functions: frozenset[str]
    detokenize_scopes: frozenset[str] = frozenset({"default"})  # {"*"}: every scope

    def may_invoke(self, function: str) -> bool:
        return "*" in self.functions or function in self.functions


def _scopes(entry: dict, path: str | Path) -> frozenset[str]:
    listed = entry.get("detokenize_scopes")
    if listed is not None and not (isinstance(listed, list) and all(isinstance(n, str) for n in listed)):
        raise ConfigurationError(f"--principals {path}: detokenize_scopes of {entry.get('name')!r} must be a list of "
                                 'scope names, e.g. ["default", "marketing"], or ["*"] for every scope')
    allowed = parse_scopes(listed, f"--principals {path}: detokenize_scopes of {entry.get('name')!r}")
    return frozenset({ALL_SCOPES}) if allowed is None else allowed


class Principals:
    """The `--principals` file: {"principals": [{"name", "access_key_id", "secret_access_key", "functions",
    optional "detokenize_scopes"}]}."""

    def __init__(self, principals: list[Principal]):
        self.by_key = {p.access_key_id: p for p in principals}

    @classmethod
    def load(cls, path: str | Path) -> "Principals":
        """The principals of `path`; refused, as ssh refuses a private key, if group or others may use it."""
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError as error:
            raise ConfigurationError(f"--principals {path}: cannot be read ({type(error).__name__})") from None
        if mode & 0o077:
            raise ConfigurationError(f"--principals {path}: mode {mode:04o} lets group or others read or change it, and "
                                     f"it holds secret access keys; make it private with `chmod 600 {path}`")
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
            entries = document["principals"]
            principals = [Principal(str(e["name"]), str(e["access_key_id"]), str(e["secret_access_key"]),
                                    frozenset(str(f) for f in e["functions"]), _scopes(e, path)) for e in entries]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigurationError(
                f"--principals {path}: cannot be used ({type(error).__name__}); it must be JSON like "
                '{"principals": [{"name": "etl", "access_key_id": "...", "secret_access_key": "...", '
                '"functions": ["tegridy-tokens"]}]}') from None
        if len({p.access_key_id for p in principals}) != len(principals):
            raise ConfigurationError(f"--principals {path}: two principals share an access_key_id")
        return cls(principals)

    def verify(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes,
               now: float | None = None, region: str = "us-east-1") -> Principal:
        """The principal whose SigV4 signature this request carries, or Refused (403) saying why."""
        return self.authenticate(method, raw_path, headers, region, now).check_body(body)

    def authenticate(self, method: str, raw_path: str, headers: Mapping[str, str], region: str,
                     now: float | None = None) -> "SignedRequest":
        """Everything the headers alone can show, before any body is read: Refused (403), or the
        request pending its body check (its signature already checked if it declares its payload hash)."""
        authorization = headers.get("Authorization")
        if not authorization:
            raise Refused(403, MISSING, "Missing Authentication Token")
        match = _AUTHORIZATION.fullmatch(authorization.strip())
        if match is None:
            raise Refused(403, INVALID_SIGNATURE, "The Authorization header is not an AWS4-HMAC-SHA256 signature.")
        credential, signed_headers, signature = match.groups()
        scope = credential.split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise Refused(403, INVALID_SIGNATURE, "The credential scope of the signature is malformed.")
        access_key_id, day, signed_region, service = scope[:4]
        # AWS's own words for a signature made for another service or region.
        if service != SERVICE:
            raise Refused(403, INVALID_SIGNATURE, f"Credential should be scoped to correct service: '{SERVICE}'. ")
        if signed_region != region:
            raise Refused(403, INVALID_SIGNATURE, f"Credential should be scoped to a valid region, not '{signed_region}'. "
                          f"This server stands for {region} (serve --region).")
        principal = self.by_key.get(access_key_id)
        if principal is None:
            raise Refused(403, UNRECOGNIZED, "The security token included in the request is invalid.")

        stamp = headers.get("X-Amz-Date", "")
        try:
            signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise Refused(403, INVALID_SIGNATURE, "The request has no valid X-Amz-Date.") from None
        current = time.time() if now is None else now
        if abs(current - signed_at) > MAX_CLOCK_SKEW_S or day != stamp[:8]:
            raise Refused(403, INVALID_SIGNATURE, f"Signature expired: {stamp} is now earlier or later than "
                          f"{MAX_CLOCK_SKEW_S // 60} minutes from the server's time.")
        names = signed_headers.split(";")
        if "host" not in names:
            raise Refused(403, INVALID_SIGNATURE, "The signature must cover the Host header.")
        # A payload hash the client signed stands for the body: the signature is checked over it now.
        declared = headers.get("X-Amz-Content-SHA256") if "x-amz-content-sha256" in names else None
        pending = SignedRequest(principal, region, method, raw_path, headers, names, signature, stamp, declared)
        if pending.declared_hash is not None:
            pending.check_signature(None)  # over the declared hash: the body is read only if it holds
        return pending


@dataclass
class SignedRequest:
    """A request whose headers passed; `check_body` finishes the check once the body is read."""

    principal: Principal
    region: str
    method: str
    raw_path: str
    headers: Mapping[str, str]
    names: list[str]
    signature: str
    stamp: str
    declared_hash: Optional[str]

    def check_signature(self, body: bytes | None) -> None:
        if not hmac.compare_digest(_botocore_signature(self.principal, self.region, self.method, self.raw_path,
                                                       self.headers, self.names, body, self.stamp), self.signature):
            raise Refused(403, INVALID_SIGNATURE, "The request signature we calculated does not match the signature "
                          "you provided. Check your AWS Secret Access Key and signing method.")

    def check_body(self, body: bytes) -> Principal:
        declared = self.headers.get("X-Amz-Content-SHA256")  # signed or not, it must be the body's
        if declared is not None and not hmac.compare_digest(declared, hashlib.sha256(body).hexdigest()):
            raise Refused(403, INVALID_SIGNATURE, "The request body does not match its signed X-Amz-Content-SHA256.")
        if self.declared_hash is None:
            self.check_signature(body)
        return self.principal


def _botocore_signature(principal: Principal, region: str, method: str, raw_path: str, headers: Mapping[str, str],
                        names: list[str], body: bytes | None, stamp: str) -> str:
    """What botocore's SigV4 signer computes for this request, under the principal's secret, as
    signed at `stamp` with exactly the headers the client signed. With `body` None the payload
    is the signed X-Amz-Content-SHA256, which botocore's canonical request then uses as is."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = {name: headers.get(name, "") for name in names}
    request = AWSRequest(method=method, url=f"http://{headers.get('Host', '')}{raw_path}", data=body or b"",
                         headers=signed)
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(principal.access_key_id, principal.secret_access_key), SERVICE, region)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


def is_loopback_host(host: str) -> bool:
    """`localhost`, a name under .localhost, or a loopback address, with or without a port."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":")[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool, principals: Principals | None) -> None:
    """A non-loopback --host needs both --allow-remote and --principals; anything else is refused."""
    if is_loopback_host(host):
        return
    if not (allow_remote and principals is not None):
        raise ConfigurationError(
            f"--host {host} would let other machines call this server, which speaks plain HTTP (no TLS) and, "
            "without --principals, lets anyone who can connect detokenize. Serve on 127.0.0.1, or pass both "
            "--allow-remote and --principals FILE and put the server behind a TLS-terminating proxy.")


class RateLimit:
    """Values per second per principal: a token bucket that may run into debt by one request, so a
    batch larger than a second's worth still passes once the bucket is full; Retry-After says when
    the debt is paid."""

    def __init__(self, values_per_second: float):
        self.rate = float(values_per_second)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def admit(self, principal: str, values: int, now: float | None = None) -> None:
        current = time.monotonic() if now is None else now
        with self._lock:
            level, since = self._buckets.get(principal, (self.rate, current))
            level = min(self.rate, level + (current - since) * self.rate)
            if level <= 0:
                self._buckets[principal] = (level, current)
                wait = max(1, math.ceil((1 - level) / self.rate))
                raise Refused(429, "TooManyRequestsException", "Rate Exceeded.", headers={"Retry-After": str(wait)},
                              extra={"Reason": "CallerRateLimitExceeded"})
            self._buckets[principal] = (level - max(1, values), current)
