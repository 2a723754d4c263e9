"""The `tegridy-tokens` command: `serve` (the local Lambda), `demo` (the quickstart), `jar`."""

from __future__ import annotations

import argparse
import logging
import sys

from .jar import JarNotFoundError, jar_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tegridy-tokens", description="Tegridy Tokens for Spark")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the reference tokenization service behind the Lambda Invoke API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9001)
    serve.add_argument("--vault", help="SQLite vault file (default: $TEGRIDY_HOME/vault.db, TEGRIDY_HOME=~/.tegridy)")
    serve.add_argument("--keyring", help="keyring file (default: keyring.json beside the vault; created mode 0600)")
    serve.add_argument("--function-name", default="tegridy-tokens", help="the Lambda function name to answer to")
    serve.add_argument("--max-concurrency", type=int, default=None, help="answer HTTP 429 above this many invocations at once")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added delay per invocation (models a remote fleet)")
    serve.add_argument("--stateless", action="store_true", help="HMAC tokens only, no vault writes (benchmarks; no detokenize)")
    serve.add_argument("--log-level", default="INFO")

    commands.add_parser("demo", help="run the quickstart end to end on the embedded default")
    commands.add_parser("jar", help="print the bundled engine jar's path (for spark-submit --jars)")

    args = parser.parse_args(argv)
    if args.command == "jar":
        try:
            print(jar_path())
        except JarNotFoundError as error:
            print(f"tegridy-tokens: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "serve":
        return _serve(args)
    from .demo import run_demo

    return run_demo()


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .service.local import open_engine
    from .service.server import LambdaInvokeApp, ServerSettings

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = open_engine(args.vault, args.keyring, stateless=args.stateless)
    settings = ServerSettings(function_name=args.function_name, max_concurrency=args.max_concurrency, latency_ms=args.latency_ms)
    app = LambdaInvokeApp(engine, settings).build()
    print(f"tegridy-tokens: serving Lambda function '{args.function_name}' at http://{args.host}:{args.port}", flush=True)
    # run_app stops cleanly on SIGINT and SIGTERM, finishing invocations under way.
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None, handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
