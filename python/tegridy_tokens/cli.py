"""The `tegridy-tokens` command: `serve` (the local Lambda), `keys` (the only maker of keys),
`erase` (tokens made unreadable for good, audited), `audit verify` (the audit's keyed chain and head anchor), `demo` (the quickstart), `jar`, and the ingestion
pipeline's `ingest` and `state` (ingest/cli.py)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from .jar import SUPPORTED_SPARK_LINES, JarNotFoundError, UnsupportedSparkVersionError, jar_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tegridy-tokens", description="Tegridy Tokens for Spark")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the reference tokenization service behind the Lambda Invoke API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9001)
    serve.add_argument("--vault", help="SQLite vault file or vault URL, sqlite:///path or dynamodb://TABLE "
                       "(default: $TEGRIDY_HOME/vault.db, TEGRIDY_HOME=~/.tegridy; a new one gets its keys on first start)")
    serve.add_argument("--keyring", help="keyring file (default for SQLite: keyring.json beside the vault, mode 0600)")
    serve.add_argument("--operations", default="both", help="tokenize, detokenize or both (default both)")
    serve.add_argument("--function-name", default="tegridy-tokens", help="the base function name: NAME serves tokenize, "
                       "NAME-detokenize serves detokenize (default tegridy-tokens)")
    serve.add_argument("--principals", help="JSON file of principals (name, access_key_id, secret_access_key, functions): "
                       "every request must then carry a valid SigV4 signature. Without it: loopback-only development "
                       "mode, where anyone who can connect may tokenize and detokenize")
    serve.add_argument("--allow-remote", action="store_true", help="accept a Host that is not a loopback name, and a "
                       "non-loopback --host (needs --principals; plain HTTP: put a TLS proxy in front)")
    serve.add_argument("--max-values-per-second", type=float, default=100000.0,
                       help="per principal, for the whole server (each of N workers admits 1/N of it); above it "
                       "HTTP 429 with Retry-After (default 100000)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes behind the one port (default: "
                       "the number of CPUs, at most 8; 1 with --audit, whose hash chain is one sequence)")
    serve.add_argument("--audit", help="append a JSON line per invocation to this file, each linked to the one before "
                       "by an HMAC under the audit key, the head anchor in PATH.head (check it with "
                       "`tegridy-tokens audit verify PATH`)")
    serve.add_argument("--audit-key", help="file holding the audit HMAC key (default PATH.key beside --audit, made on first use)")
    serve.add_argument("--region", default="us-east-1", help="the region this server stands for: a signature must be "
                       "scoped to it, and a function ARN must name it (default us-east-1)")
    serve.add_argument("--max-concurrency", type=int, default=None, help="answer HTTP 429 above this many invocations "
                       "at once, counted across all workers")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added delay per invocation (models a remote fleet)")
    serve.add_argument("--stateless", action="store_true", help="HMAC tokens under a throwaway in-memory key, no files, no vault (benchmarks; no detokenize)")
    serve.add_argument("--log-level", default="INFO")

    keys = commands.add_parser("keys", help="create, rotate or describe the service's keys (the handler never makes keys)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    for name, text in (("init", "create the vault's keys, once"), ("rotate", "add a new sealing key; tokens do not change"),
                       ("status", "describe the keyring, without any key")):
        sub = key_commands.add_parser(name, help=text)
        sub.add_argument("--vault", required=True, help="sqlite:///path/to/vault.db or dynamodb://TABLE")
        sub.add_argument("--keyring", help="keyring file (mode 0600), when the keys are not kept with KMS")
        if name == "init":
            sub.add_argument("--tokenize-kms-key", help="KMS key that wraps the token key (the tokenize role may decrypt)")
            sub.add_argument("--detokenize-kms-key", help="KMS key that wraps the sealing private keys (the detokenize role only)")

    erase = commands.add_parser("erase", help="erase tokens for good: each sealed entry becomes a tombstone (when, "
                                "why, who); detokenize then answers 'erased'. Audited. A value is never read from argv")
    erase.add_argument("--vault", required=True, help="sqlite:///path/to/vault.db or dynamodb://TABLE")
    given = erase.add_mutually_exclusive_group(required=True)
    given.add_argument("--token", action="append", help="a token to erase (repeatable)")
    given.add_argument("--tokens-file", help="a file of tokens, one a line ('-': standard input)")
    given.add_argument("--value-file", help="a file of values, one a line ('-': standard input); needs --scope, and "
                       "the token key (--keyring, or the KMS key the vault's record names)")
    erase.add_argument("--scope", help="the tokens' scope: needed for values and for format-preserving tokens "
                       "(default-format tokens carry their own)")
    erase.add_argument("--format", help="the tokens' format (ssn, credit_card, phone, email); default: default")
    erase.add_argument("--reason", help="your reference for the request (a ticket id), kept in each tombstone and the "
                       "audit; never a value")
    erase.add_argument("--dry-run", action="store_true", help="only report which tokens exist, which are already "
                       "erased and which are unknown")
    erase.add_argument("--keyring", help="keyring file, for --value-file when the keys are not kept with KMS")
    erase.add_argument("--audit", help="append the run's audit line to this file (as serve --audit)")
    erase.add_argument("--audit-key", help="file holding the audit HMAC key (default PATH.key beside --audit)")

    audit = commands.add_parser("audit", help="check the serve --audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check the keyed chain and the head anchor; names the first line "
                                       "changed or removed")
    verify.add_argument("path")
    verify.add_argument("--key-file", help="the audit key (default PATH.key, else $TEGRIDY_AUDIT_KEY, base64)")
    verify.add_argument("--head", help="the head anchor (default PATH.head)")
    verify.add_argument("--checkpoint", help="SEQ:LINK from an earlier report, kept elsewhere: the log must still hold it")
    verify.add_argument("--instances", action="store_true", help="lines exported from CloudWatch Logs: check each "
                        "Lambda instance's chain (no head anchor there)")

    commands.add_parser("demo", help="run the quickstart end to end on the embedded default")
    jar = commands.add_parser("jar", help="print the bundled engine jar's path for a Spark line (for spark-submit --jars)")
    jar.add_argument("--spark", metavar="X.Y", help="the cluster's Spark line, one of "
                     f"{', '.join(SUPPORTED_SPARK_LINES)} (default: the installed pyspark's)")
    from .ingest.cli import add_parsers as add_ingest_parsers

    add_ingest_parsers(commands)

    args = parser.parse_args(argv)
    if args.command == "jar":
        try:
            print(jar_path(spark_version=args.spark))
        except (JarNotFoundError, UnsupportedSparkVersionError) as error:
            print(f"tegridy-tokens: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "serve":
        return _serve(args)
    if args.command == "keys":
        return _keys(args)
    if args.command == "erase":
        return _erase(args)
    if args.command == "audit":
        return _audit_verify(args)
    if args.command in ("ingest", "state"):
        from .ingest.cli import main as ingest_main

        return ingest_main(args)
    from .demo import run_demo

    return run_demo()


def _keys(args: argparse.Namespace) -> int:
    import json

    from .service.errors import ServiceError
    from .service.keys import init_keys, key_status, rotate_keys
    from .service.vault import open_vault

    try:
        vault = open_vault(args.vault, create=args.keys_command == "init")
        if args.keys_command == "init":
            status = init_keys(vault, args.keyring, args.tokenize_kms_key, args.detokenize_kms_key)
        elif args.keys_command == "rotate":
            status = rotate_keys(vault, args.keyring)
        else:
            status = key_status(vault, args.keyring)
    except ServiceError as error:
        print(f"tegridy-tokens keys {args.keys_command}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2))
    return 0


def _open_audit(path: str | None, key_file: str | None):
    """The --audit log of serve and erase (its key made on first use beside it), or None."""
    from .service.audit import KEY_SUFFIX, AuditLog, load_or_create_key

    return AuditLog(path, load_or_create_key(key_file or path + KEY_SUFFIX)) if path else None


def _read_lines(path: str, strip: bool) -> list[str]:
    """The lines of a file or of standard input ('-'): tokens stripped and blank lines skipped;
    values exactly as written, but for the newline that ends each one."""
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8", newline="").read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.strip() for line in lines if line.strip()] if strip else lines


def _erase(args: argparse.Namespace) -> int:
    import json

    from .service.erasure import erase
    from .service.errors import ServiceError

    try:
        if args.value_file is not None and args.scope is None:
            raise ValueError("--value-file needs --scope: a value's token depends on its scope (--scope default "
                             "for the default scope)")
        audit = _open_audit(args.audit, args.audit_key)
        tokens = args.token if args.token else (_read_lines(args.tokens_file, True) if args.tokens_file else None)
        values = _read_lines(args.value_file, False) if args.value_file is not None else None
        report = erase(args.vault, tokens=tokens, values=values, scope=args.scope, format=args.format,
                       reason=args.reason, dry_run=args.dry_run, keyring=args.keyring, audit=audit)
    except (ServiceError, ValueError) as error:
        print(f"tegridy-tokens erase: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"tegridy-tokens erase: cannot read {error.filename} ({type(error).__name__})", file=sys.stderr)
        return 1
    answer: dict = {"summary": report.summary()}
    if args.dry_run:
        answer.update(present=report.present, already_erased=report.already_erased, unknown=report.unknown)
    if report.failed:
        answer["failed"] = report.failed  # run again with these
    print(json.dumps(answer, indent=1))
    return 2 if report.failed else 0


def _audit_verify(args: argparse.Namespace) -> int:
    from .service.audit import KEY_SUFFIX, KEY_VARIABLE, decode_key, verify, verify_instances
    from .service.errors import ConfigurationError

    path = args.path
    key_file = args.key_file or (path + KEY_SUFFIX if os.path.exists(path + KEY_SUFFIX) else None)
    try:
        if key_file is not None:
            key = decode_key(open(key_file, encoding="utf-8").read(), key_file)
        elif os.environ.get(KEY_VARIABLE):
            key = decode_key(os.environ[KEY_VARIABLE], KEY_VARIABLE)
        else:
            raise ConfigurationError(f"the chain is keyed, so checking it needs the audit key: pass --key-file FILE "
                                     f"(the default, {path}{KEY_SUFFIX}, does not exist) or set {KEY_VARIABLE} (base64)")
        if args.instances:
            ok, report = verify_instances(path, key)
        else:
            ok, report = verify(path, key, args.head, args.checkpoint)
    except ConfigurationError as error:
        print(f"tegridy-tokens audit verify: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"tegridy-tokens audit verify: cannot read {error.filename or path} ({type(error).__name__})", file=sys.stderr)
        return 2
    print(f"{path}: {report}" if ok else f"{path}: TAMPERED: {report}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .service.auth import Principals, check_bind
    from .service.config import parse_operations
    from .service.errors import ConfigurationError, ServiceError
    from .service.local import BOTH, open_engine
    from .service.server import DETOKENIZE_SUFFIX, LambdaInvokeApp, ServerSettings
    from .service.workers import SharedCounters, bound_socket, listening_socket, serve_workers

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workers = args.workers if args.workers is not None else (1 if args.audit else min(os.cpu_count() or 1, 8))
    try:
        if workers < 1:
            raise ConfigurationError(f"--workers must be 1 or more, got {workers}")
        if workers > 1 and args.audit:
            raise ConfigurationError("--audit writes one hash chain, which one process must append to: "
                                     "use --workers 1 with --audit")
        principals = Principals.load(args.principals) if args.principals else None
        check_bind(args.host, args.allow_remote, principals)
        audit = _open_audit(args.audit, args.audit_key)
        operations = parse_operations(args.operations, BOTH)
        # Made before the workers fork: a new vault gets its keys once, and a stateless server's
        # throwaway key is the same in every worker (its tokens must not depend on the worker).
        engine = open_engine(args.vault, args.keyring, args.stateless, operations)
        # Several workers: the port is held (bound, not listening) and each worker listens with SO_REUSEPORT.
        sock = listening_socket(args.host, args.port) if workers == 1 else bound_socket(args.host, args.port, True)
    except (ServiceError, OSError) as error:
        print(f"tegridy-tokens serve: {error}", file=sys.stderr)
        return 1
    settings = ServerSettings(function_name=args.function_name, max_concurrency=args.max_concurrency,
                              latency_ms=args.latency_ms, principals=principals, allow_remote=args.allow_remote,
                              max_values_per_second=args.max_values_per_second, audit=audit, region=args.region)
    stats = SharedCounters(workers)
    mode = "SigV4 principals" if principals else "loopback-only development mode: NO authentication"
    print(f"tegridy-tokens: serving Lambda functions '{args.function_name}' (tokenize) and "
          f"'{args.function_name}{DETOKENIZE_SUFFIX}' (detokenize) at http://{args.host}:{args.port} ({mode}, "
          f"{workers} worker{'s' if workers > 1 else ''})", flush=True)

    def run_worker(index: int, sock: socket.socket) -> None:
        stats.row = index
        # A SQLite connection must not cross a fork: a worker opens the vault again (WAL lets them share it).
        own = engine if args.stateless or workers == 1 else open_engine(args.vault, args.keyring, False, operations)
        app = LambdaInvokeApp(own, settings, stats).build()
        # run_app stops cleanly on SIGINT and SIGTERM, finishing invocations under way.
        web.run_app(app, sock=sock, access_log=None, print=None, handle_signals=True)

    if workers == 1:
        run_worker(0, sock)
        return 0
    if not args.stateless and hasattr(engine.vault, "close"):
        engine.vault.close()  # each worker has its own connection
    return serve_workers(sock, workers, run_worker)


if __name__ == "__main__":
    sys.exit(main())
