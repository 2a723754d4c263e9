"""The local Lambda: the handler behind the real Lambda Invoke REST API, on aiohttp.

Unchanged AWS SDKs (Java v2, boto3) reach it through an endpoint override. It honours the Lambda
transport facts the client must survive: 6 MB request and response limits (413
RequestEntityTooLargeException / Function.ResponseSizeTooLarge), 429 TooManyRequestsException
above a concurrency limit, 404 ResourceNotFoundException for another function, and function
errors as HTTP 200 with X-Amz-Function-Error. `latency_ms` models a remote fleet's round trip
without burning CPU.

Nothing a request carries is ever logged: log lines hold counts, status and timings only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

from aiohttp import web

from .errors import AccessDenied, ServiceError
from .handler import handle_event
from .tokens import TokenEngine

log = logging.getLogger("tegridy_tokens.service")

# Lambda's synchronous invocation limits, in bytes.
MAX_REQUEST_BYTES = 6 * 1024 * 1024
MAX_RESPONSE_BYTES = 6 * 1024 * 1024

INVOKE_PATH = "/2015-03-31/functions/{function}/invocations"
STATS_PATH = "/_tegridy/stats"


@dataclass
class ServiceStats:
    """What the service itself counted; tests compare the client's metrics with these."""

    invocations: int = 0
    tokenize_invocations: int = 0
    detokenize_invocations: int = 0
    values_received: int = 0
    tokens_received: int = 0
    throttled: int = 0
    function_errors: int = 0
    max_concurrent: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class ServerSettings:
    function_name: str = "tegridy-tokens"
    max_concurrency: int | None = None  # None: unlimited
    latency_ms: float = 0.0
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # A test-side hook that sees each parsed event (never a log): used to prove what was sent.
    on_event: Callable[[Any], None] | None = field(default=None, repr=False)


def function_name_of(path_name: str) -> str:
    """The bare function name from a name, a partial ARN or a full ARN, qualifier dropped."""
    parts = unquote(path_name).split(":")
    if "function" in parts:
        index = parts.index("function")
        return parts[index + 1] if index + 1 < len(parts) else ""
    return parts[0]


def _error(status: int, error_type: str, message: str) -> web.Response:
    body = json.dumps({"Type": "User", "message": message}).encode("utf-8")
    return web.Response(
        status=status,
        body=body,
        content_type="application/json",
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _function_error(kind: str, error_type: str, message: str) -> web.Response:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode("utf-8")
    return web.Response(
        status=200,
        body=body,
        content_type="application/json",
        headers={"X-Amz-Function-Error": kind, "X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _encode(result: Any) -> bytes:
    try:
        return json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8: escape it as JSON does, so it round-trips exactly.
        return json.dumps(result, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class LambdaInvokeApp:
    """Builds the aiohttp application around one engine; shared by the CLI and `local_service`."""

    def __init__(self, engine: TokenEngine, settings: ServerSettings):
        self.engine = engine
        self.settings = settings
        self.stats = ServiceStats()
        self._in_flight = 0  # touched only on the event loop thread
        workers = max(32, settings.max_concurrency or 0)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tegridy-handler")

    def build(self) -> web.Application:
        # The 6 MB check is ours (a Lambda-shaped 413); aiohttp's own cap sits above it.
        app = web.Application(client_max_size=MAX_REQUEST_BYTES * 4)
        app.router.add_post(INVOKE_PATH, self.invoke)
        app.router.add_get(STATS_PATH, self.report_stats)
        app.on_cleanup.append(self._shutdown)
        return app

    async def _shutdown(self, _app: web.Application) -> None:
        self._pool.shutdown(wait=True)

    async def report_stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats.as_dict())

    async def invoke(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        name = function_name_of(request.match_info["function"])
        if name != self.settings.function_name:
            arn = f"arn:aws:lambda:{self.settings.region}:{self.settings.account_id}:function:{name}"
            log.info("invoke rejected: unknown function, status=404")
            return _error(404, "ResourceNotFoundException", f"Function not found: {arn}")

        if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
            log.info("invoke rejected: request of %d bytes over the limit, status=413", request.content_length)
            return _error(413, "RequestEntityTooLargeException", self._too_large_message())
        body = await request.read()
        if len(body) > MAX_REQUEST_BYTES:
            log.info("invoke rejected: request of %d bytes over the limit, status=413", len(body))
            return _error(413, "RequestEntityTooLargeException", self._too_large_message())

        limit = self.settings.max_concurrency
        if limit is not None and self._in_flight >= limit:
            self.stats.throttled += 1
            log.info("invoke throttled: %d in flight, limit %d, status=429", self._in_flight, limit)
            return _error(429, "TooManyRequestsException", "Rate Exceeded.")

        self._in_flight += 1
        self.stats.max_concurrent = max(self.stats.max_concurrent, self._in_flight)
        try:
            return await self._run(request, body, started)
        finally:
            self._in_flight -= 1

    async def _run(self, request: web.Request, body: bytes, started: float) -> web.Response:
        if request.headers.get("X-Amz-Invocation-Type", "RequestResponse") == "DryRun":
            return web.Response(status=204)
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            # What the real Invoke API answers for a body that is not JSON.
            log.info("invoke rejected: body is not JSON, status=400")
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")

        self.stats.invocations += 1
        if isinstance(event, dict) and isinstance(event.get("requests"), list):
            self.stats.tokenize_invocations += 1
            self.stats.values_received += len(event["requests"])
        elif isinstance(event, dict) and isinstance(event.get("tokens"), list):
            self.stats.detokenize_invocations += 1
            self.stats.tokens_received += len(event["tokens"])
        if self.settings.on_event is not None:
            self.settings.on_event(event)

        if self.settings.latency_ms > 0:
            await asyncio.sleep(self.settings.latency_ms / 1000.0)

        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool, handle_event, self.engine, event)
        except ServiceError as error:  # our own errors: their messages hold no value, by design
            self.stats.function_errors += 1
            # AccessDenied is an answer, not a crash: Handled, as the contract says.
            kind = "Handled" if isinstance(error, AccessDenied) else "Unhandled"
            log.info("invoke failed: %s, status=200 function-error=%s", type(error).__name__, kind)
            return _function_error(kind, type(error).__name__, str(error))
        except Exception as error:  # the message may quote a value: report the type only
            self.stats.function_errors += 1
            log.error("invoke failed: handler raised %s, status=200 function-error=Unhandled", type(error).__name__)
            return _function_error("Unhandled", type(error).__name__, f"the tokenization handler failed ({type(error).__name__})")

        payload = _encode(result)
        if len(payload) > MAX_RESPONSE_BYTES:
            self.stats.function_errors += 1
            log.info("invoke failed: response of %d bytes over the limit", len(payload))
            return _function_error(
                "Unhandled",
                "Function.ResponseSizeTooLarge",
                f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
            )
        log.debug("invoke ok: %d bytes in, %d bytes out, %.1f ms", len(body), len(payload), (time.perf_counter() - started) * 1000)
        return web.Response(
            status=200,
            body=payload,
            content_type="application/json",
            headers={"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": str(uuid.uuid4())},
        )

    @staticmethod
    def _too_large_message() -> str:
        return f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation"
