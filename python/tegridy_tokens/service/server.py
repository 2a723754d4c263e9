"""The local Lambda: the handler behind the real Lambda Invoke REST API, on aiohttp.

Unchanged AWS SDKs (Java v2, boto3) reach it through an endpoint override. It serves two
functions, `<name>` (tokenize only) and `<name>-detokenize` (detokenize only), and answers as
Lambda does: 6 MB request and 6,291,556-byte response limits (413 / Function.ResponseSizeTooLarge),
429 TooManyRequestsException with Retry-After and a Reason, 404 ResourceNotFoundException for
another function or qualifier, function errors as HTTP 200 with X-Amz-Function-Error,
InvocationType Event (202) and DryRun (204), LogType Tail, Lambda-style JSON errors on any other
route. With `principals` every request must carry a SigV4 signature (auth.py); `Host` must be a
loopback name unless `allow_remote`. Each invocation writes one audit line when `audit` is set,
and a request whose audit line cannot be written fails with a Handled AuditUnavailable.

Nothing a request carries is ever logged: log lines hold counts, status and timings only.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

import orjson
from aiohttp import web

from .audit import AuditLog, AuditUnavailable
from .auth import ACCESS_DENIED, DEV_PRINCIPAL, Principals, RateLimit, Refused, is_loopback_host
from .errors import AccessDenied, ServiceError
from .handler import MAX_RESPONSE_BYTES, event_shape
from .invocation import Caller, outcome_of, run_audited
from .keyring import DETOKENIZE, TOKENIZE
from .tokens import TokenEngine
from .workers import SharedCounters

log = logging.getLogger("tegridy_tokens.service")

# Lambda's synchronous invocation limits, in bytes (the response's is the handler's MAX_RESPONSE_BYTES).
MAX_REQUEST_BYTES = 6 * 1024 * 1024
LOG_TAIL_BYTES = 4096
DETOKENIZE_SUFFIX = "-detokenize"

INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")
# Deeper JSON is refused (400) before the handler sees it: orjson's own limit, held on the fallback too.
MAX_JSON_DEPTH = 1024

INVOKE_PATH = "/2015-03-31/functions/{function}/invocations"
STATS_PATH = "/_tegridy/stats"


@dataclass
class ServerSettings:
    function_name: str = "tegridy-tokens"
    max_concurrency: int | None = None  # None: unlimited
    principals: Principals | None = None  # None: loopback-only development mode, no signatures
    allow_remote: bool = False  # accept a Host header that is not a loopback name
    max_values_per_second: float | None = None  # per principal; None: no limit
    audit: AuditLog | None = None
    latency_ms: float = 0.0
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # A test-side hook that sees each parsed event (never a log): used to prove what was sent.
    on_event: Callable[[Any], None] | None = field(default=None, repr=False)


def arn_scope(path_name: str) -> tuple[str | None, str | None]:
    """(region, account) a full ARN names, (None, account) for a partial one, (None, None) for a name."""
    parts = unquote(path_name).split(":")
    if "function" not in parts:
        return None, None
    index = parts.index("function")
    if index >= 5 and parts[0] == "arn":  # arn:aws:lambda:REGION:ACCOUNT:function:NAME
        return parts[3], parts[4]
    return None, parts[index - 1] if index >= 1 else None


def function_name_of(path_name: str) -> str:
    """The bare function name from a name, a partial ARN or a full ARN, qualifier dropped."""
    return function_and_qualifier(path_name)[0]


def function_and_qualifier(path_name: str) -> tuple[str, str | None]:
    """(name, qualifier or None) from a name, `name:qualifier`, a partial ARN or a full ARN."""
    parts = unquote(path_name).split(":")
    if "function" in parts:
        index = parts.index("function")
        rest = parts[index + 1:]
    else:
        rest = parts
    name = rest[0] if rest else ""
    return name, (rest[1] if len(rest) > 1 else None)


def _error(status: int, error_type: str, message: str, key: str = "message", extra: dict[str, str] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps({"Type": "User", key: message, **(extra or {})}).encode("utf-8")
    return web.Response(
        status=status,
        body=body,
        content_type="application/json",
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})},
    )


def _refused(refusal: Refused) -> web.Response:
    key = "Message" if refusal.status in (403, 404) else "message"
    return _error(refusal.status, refusal.error_type, refusal.message, key, refusal.extra, refusal.headers)


def _function_error(kind: str, error_type: str, message: str) -> web.Response:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode("utf-8")
    return web.Response(
        status=200,
        body=body,
        content_type="application/json",
        headers={"X-Amz-Function-Error": kind, "X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _decode(body: bytes) -> Any:
    """The event. orjson parses a batch of 500 in half json's time; it refuses what json accepts
    and Lambda passes on (an escaped lone surrogate, NaN, integers past 64 bits): json then."""
    try:
        return orjson.loads(body)  # refuses nesting deeper than MAX_JSON_DEPTH
    except orjson.JSONDecodeError:
        pass
    try:
        event = json.loads(body)
    except RecursionError:
        raise TooDeep() from None
    if _deeper_than(event, MAX_JSON_DEPTH):
        raise TooDeep()
    return event


class TooDeep(ValueError):
    """A body nested deeper than MAX_JSON_DEPTH."""


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether `document` nests more than `limit` arrays and objects (without recursion)."""
    level = [document]
    for _ in range(limit):
        level = [child for node in level if isinstance(node, (list, dict))
                 for child in (node.values() if isinstance(node, dict) else node)]
        if not level:
            return False
    return any(isinstance(node, (list, dict)) for node in level)


def _encode(result: Any) -> bytes:
    """The answer: orjson writes a batch's 500 small objects in a sixteenth of json's time."""
    try:
        return orjson.dumps(result)
    except TypeError:
        # A lone surrogate cannot be UTF-8: escape it as JSON does, so it round-trips exactly.
        return json.dumps(result, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class ResponseTooLarge(ServiceError):
    """The answer is over Lambda's response limit: Lambda drops it and reports this error type."""

    error_type = "Function.ResponseSizeTooLarge"


def _encode_within_limit(result: Any) -> bytes:
    """The encoded answer, or ResponseTooLarge (audited as such: the answer is never sent)."""
    payload = _encode(result)
    if len(payload) > MAX_RESPONSE_BYTES:
        log.info("invoke failed: response of %d bytes over the limit", len(payload))
        raise ResponseTooLarge(f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).")
    return payload


class LambdaInvokeApp:
    """Builds the aiohttp application around one engine; shared by the CLI and `local_service`."""

    def __init__(self, engine: TokenEngine, settings: ServerSettings, stats: SharedCounters | None = None):
        self.engine = engine
        self.settings = settings
        # Shared with the other worker processes of `serve --workers N`: counts and the
        # concurrency limit are the server's, not one worker's.
        self.stats = stats or SharedCounters()
        base = settings.function_name
        # Each function serves one operation, as the two deployed Lambda functions do.
        self.functions: dict[str, frozenset[str]] = {base: frozenset({TOKENIZE}),
                                                      base + DETOKENIZE_SUFFIX: frozenset({DETOKENIZE})}
        self._views = {name: self._view(ops) for name, ops in self.functions.items()}
        # Per worker: each of N workers admits 1/N of the server's rate (connections spread evenly).
        rate = settings.max_values_per_second / self.stats.workers if settings.max_values_per_second else None
        self._rate = RateLimit(rate) if rate else None
        workers = getattr(engine.vault, "handler_threads", None) or max(32, settings.max_concurrency or 0)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tegridy-handler")

    def _view(self, operations: frozenset[str]) -> TokenEngine:
        """The engine as one function sees it: only its own operation is allowed."""
        view = copy.copy(self.engine)
        view.operations = self.engine.operations & operations
        return view

    def build(self) -> web.Application:
        # The 6 MB check is ours (a Lambda-shaped 413); aiohttp's own cap sits above it.
        app = web.Application(client_max_size=MAX_REQUEST_BYTES * 4, middlewares=[self._lambda_errors])
        app.router.add_post(INVOKE_PATH, self.invoke)
        app.router.add_get(STATS_PATH, self.report_stats)
        app.router.add_route("*", "/{tail:.*}", self.unknown_route)
        app.on_cleanup.append(self._shutdown)
        return app

    @web.middleware
    async def _lambda_errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """aiohttp's own plain-text errors (bad request line, body too large…) as Lambda's JSON ones."""
        try:
            return await handler(request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            return _error(error.status, "InvalidRequestContentException" if error.status < 500 else "ServiceException",
                          error.reason)
        except Exception as error:  # never aiohttp's plain-text 500; the type only (a message may quote a value)
            log.error("request failed: %s", type(error).__name__)
            return _error(500, "ServiceException", f"the server failed ({type(error).__name__})")

    async def unknown_route(self, request: web.Request) -> web.Response:
        if not self._host_allowed(request):
            return self._bad_host()
        return _error(404 if request.method in ("GET", "POST", "PUT", "DELETE") else 405, "UnknownOperationException",
                      "Unknown operation: this server implements Lambda Invoke only "
                      "(POST /2015-03-31/functions/{FunctionName}/invocations)", key="Message")

    async def _shutdown(self, _app: web.Application) -> None:
        self._pool.shutdown(wait=True)

    async def report_stats(self, request: web.Request) -> web.Response:
        if not self._host_allowed(request):
            return self._bad_host()
        if self.settings.principals is not None:  # counts are the server's business: any principal, signed
            try:
                self.settings.principals.authenticate(request.method, request.raw_path, request.headers,
                                                      self.settings.region).check_body(b"")
            except Refused as refusal:
                log.info("stats refused: %s, status=%d", refusal.error_type, refusal.status)
                return _refused(refusal)
        return web.json_response(self.stats.as_dict())

    def _host_allowed(self, request: web.Request) -> bool:
        return self.settings.allow_remote or is_loopback_host(request.headers.get("Host", ""))

    @staticmethod
    def _bad_host() -> web.Response:
        # A page in a browser reaching us through DNS rebinding carries its own site's Host.
        log.info("request refused: Host is not a loopback name, status=421")
        return _error(421, "MisdirectedRequestException", "The Host header is not a loopback name or address; this "
                      "server answers loopback names only (a guard against DNS rebinding). Call it as 127.0.0.1 or "
                      "localhost, or start it with --allow-remote and --principals behind a TLS proxy.", key="Message")

    def _not_here(self, path_name: str, name: str, qualifier: str | None) -> str | None:
        """Lambda's 404 message when the path names a function this server does not hold: another
        name or qualifier, or an ARN of another account or region."""
        region, account = arn_scope(path_name)
        if region is not None and region != self.settings.region:
            return f"Functions from '{region}' are not reachable in this region ('{self.settings.region}')"
        if (account is not None and account != self.settings.account_id) or name not in self.functions \
                or qualifier not in (None, "$LATEST"):
            return f"Function not found: {self._arn(name, qualifier, account, region)}"
        return None

    def _arn(self, name: str, qualifier: str | None = None, account: str | None = None, region: str | None = None) -> str:
        arn = f"arn:aws:lambda:{region or self.settings.region}:{account or self.settings.account_id}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    async def invoke(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        if not self._host_allowed(request):
            return self._bad_host()
        name, qualifier = function_and_qualifier(request.match_info["function"])
        qualifier = request.query.get("Qualifier", qualifier)

        if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
            log.info("invoke rejected: request of %d bytes over the limit, status=413", request.content_length)
            return _error(413, "RequestEntityTooLargeException", self._too_large_message())

        principal = DEV_PRINCIPAL if self.settings.principals is None else "unauthenticated"
        scopes = frozenset({"*"})  # loopback development mode: every scope
        try:
            if self.settings.principals is None:
                body = await request.read()
            else:
                # The headers first: a request they refuse is answered without reading its body.
                pending = self.settings.principals.authenticate(request.method, request.raw_path, request.headers,
                                                                self.settings.region)
                principal = pending.principal.name
                scopes = pending.principal.detokenize_scopes
                # Its signature is checked (over a signed payload hash), or it comes from a known key,
                # signed within five minutes, for this service and region: now the body is read.
                body = await request.read()
                if len(body) <= MAX_REQUEST_BYTES:
                    pending.check_body(body)
                if not pending.principal.may_invoke(name):
                    raise Refused(403, ACCESS_DENIED, f"User: arn:aws:iam::{self.settings.account_id}:user/{principal} "
                                  f"is not authorized to perform: lambda:InvokeFunction on resource: {self._arn(name)} "
                                  "because no identity-based policy allows the lambda:InvokeFunction action")
        except Refused as refusal:
            log.info("invoke refused: %s, status=%d", refusal.error_type, refusal.status)
            self._audit_refusal(request_id, name, principal if refusal.error_type == ACCESS_DENIED else "unauthenticated",
                                refusal.error_type)
            return _refused(refusal)
        if len(body) > MAX_REQUEST_BYTES:
            log.info("invoke rejected: request of %d bytes over the limit, status=413", len(body))
            return _error(413, "RequestEntityTooLargeException", self._too_large_message())

        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type not in INVOCATION_TYPES:
            log.info("invoke rejected: unknown invocation type, status=400")
            return _error(400, "InvalidParameterValueException", "1 validation error detected: Value at "
                          "'invocationType' failed to satisfy constraint: Member must satisfy enum value set: "
                          f"[{', '.join(INVOCATION_TYPES)}]")
        not_here = self._not_here(request.match_info["function"], name, qualifier)
        if not_here is not None:
            log.info("invoke rejected: unknown function, qualifier, account or region, status=404")
            return _error(404, "ResourceNotFoundException", not_here, key="Message")

        try:
            event = _decode(body) if body else {}
        except TooDeep:
            log.info("invoke rejected: body nested too deep, status=400")
            return _error(400, "InvalidRequestContentException", f"Could not parse request body into json: it is nested "
                          f"deeper than {MAX_JSON_DEPTH} levels")
        except ValueError:
            # What the real Invoke API answers for a body that is not JSON.
            log.info("invoke rejected: body is not JSON, status=400")
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
        operation, requested, tokens = event_shape(event, self.functions[name])

        limit = self.settings.max_concurrency
        try:
            if self._rate is not None:
                self._rate.admit(principal, requested)
            if limit is not None and self.stats.total("in_flight") >= limit:
                raise Refused(429, "TooManyRequestsException", "Rate Exceeded.", headers={"Retry-After": "1"},
                              extra={"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"})
        except Refused as refusal:
            self.stats.add("throttled")
            log.info("invoke throttled: %d in flight, status=429", self.stats.total("in_flight"))
            self._audit_refusal(request_id, name, principal, refusal.error_type, operation, requested, tokens)
            return _refused(refusal)

        self.stats.add("in_flight")
        self.stats.note_concurrency(self.stats.total("in_flight"))
        try:
            return await self._run(request, request_id, name, principal, scopes, event, operation, requested,
                                   tokens, len(body), started)
        finally:
            self.stats.add("in_flight", -1)

    async def _run(self, request: web.Request, request_id: str, name: str, principal: str, scopes: frozenset[str],
                   event: Any, operation: str, requested: int, tokens: list[str], body_bytes: int, started: float) -> web.Response:
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")  # checked by invoke
        if invocation_type == "DryRun":
            return web.Response(status=204, headers={"x-amzn-RequestId": request_id})
        tail = request.headers.get("X-Amz-Log-Type") == "Tail"
        log_lines = [f"START RequestId: {request_id} Version: $LATEST"]

        self.stats.add("invocations")
        if operation == TOKENIZE:
            self.stats.add("tokenize_invocations")
            self.stats.add("values_received", requested)
        elif operation == DETOKENIZE:
            self.stats.add("detokenize_invocations")
            self.stats.add("tokens_received", requested)
        if self.settings.on_event is not None:
            self.settings.on_event(event)

        if self.settings.latency_ms > 0:
            await asyncio.sleep(self.settings.latency_ms / 1000.0)

        loop = asyncio.get_running_loop()
        failure: web.Response | None = None
        payload = b""
        caller = Caller(request_id=request_id, function=name, principal=self._principal(principal),
                        serves=self.functions[name], scopes=scopes)
        try:
            # One path with the Lambda handler: the audit line before anything is stored or answered.
            payload = await loop.run_in_executor(self._pool, run_audited, lambda: self._views[name], event, None,
                                                 self.settings.audit, caller, _encode_within_limit, log_lines)
        except AuditUnavailable as error:
            # Fail closed: nothing was stored, and whatever the handler found stays here.
            log.error("invoke refused: the audit record could not be written")
            failure = self._function_failure("Handled", "AuditUnavailable", str(error), request_id)
        except ServiceError as error:  # our own errors: their messages hold no value, by design
            # AccessDenied is an answer, not a crash: Handled, as the contract says.
            kind = "Handled" if isinstance(error, AccessDenied) else "Unhandled"
            failure = self._function_failure(kind, outcome_of(error), str(error), request_id)
        except Exception as error:  # the message may quote a value: report the type only
            log.error("invoke failed: handler raised %s", type(error).__name__)
            failure = self._function_failure("Unhandled", type(error).__name__,
                                             f"the tokenization handler failed ({type(error).__name__})", request_id)
        outcome = "ok" if failure is None else failure.headers.get("X-Amz-Function-Error-Type", "function_error")
        elapsed_ms = (time.perf_counter() - started) * 1000
        log_lines += [f"END RequestId: {request_id}",
                      f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\tValues: {requested}"]
        log.debug("invoke %s: %d bytes in, %d bytes out, %.1f ms", outcome, body_bytes, len(payload), elapsed_ms)

        response = failure or web.Response(status=200, body=payload, content_type="application/json",
                                           headers={"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": request_id})
        response.headers.pop("X-Amz-Function-Error-Type", None)
        if tail:
            text = "\n".join(log_lines).encode("utf-8")[-LOG_TAIL_BYTES:] + b"\n"
            response.headers["X-Amz-Log-Result"] = base64.b64encode(text).decode("ascii")
        if invocation_type == "Event":
            return web.Response(status=202, headers={"x-amzn-RequestId": request_id})
        return response

    def _function_failure(self, kind: str, error_type: str, message: str, request_id: str) -> web.Response:
        self.stats.add("function_errors")
        log.info("invoke failed: %s, status=200 function-error=%s", error_type, kind)
        response = _function_error(kind, error_type, message)
        response.headers["x-amzn-RequestId"] = request_id
        response.headers["X-Amz-Function-Error-Type"] = error_type  # internal: the audit's outcome; removed before sending
        return response

    def _principal(self, name: str) -> dict[str, str]:
        return {"name": name, "kind": "sigv4" if self.settings.principals is not None else "loopback-dev"}

    def _audit_refusal(self, request_id: str, name: str, principal: str, error_type: str, operation: str = "unknown",
                       requested: int = 0, tokens: list[str] = ()) -> None:
        """Refused requests are audited too (best effort: nothing was revealed to fail closed on)."""
        if self.settings.audit is None:
            return
        try:
            self.settings.audit.record(request_id=request_id, function=name, operation=operation,
                                       principal=self._principal(principal), requested=requested, answered=0,
                                       failed=requested, outcome=error_type, tokens=tokens)
        except AuditUnavailable:
            log.error("the audit record of a refused request could not be written")

    @staticmethod
    def _too_large_message() -> str:
        return f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation"
