"""The argument parsers of `tegridy-tokens ingest ...` and `tegridy-tokens state ...` (their names
are the public contract, ARCHITECTURE.md) and the printing of results: `--json` prints the
result as one JSON document; without it, a short human rendering."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .state.machine import FILE_STATUSES, MANIFEST_STATUSES

INGEST = {"track": "validate and record new files in landing (bad ones to quarantine)",
          "manifest": "group pending files into manifests, under the lock",
          "run": "convert manifests to tokenized Parquet, one Spark job each",
          "all": "track, then manifest --flush, then run"}
STATE = {"get": "one file's (or manifest's) record", "list": "files (or manifests) in a status",
         "stats": "counts and bytes per status; manifests per status", "timeline": "a file's status changes",
         "orphans": "stuck records, untracked files, records whose file is gone, leftover staging",
         "reset-stuck": "processing manifests older than a duration back to manifested",
         "validate": "state against what is on disk (exit 1 on any problem)",
         "update": "move one file (or manifest) to a status, if the move is legal",
         "batch-update": "move every file in one status to another (a manifest's files with their manifest)",
         "clean-staging": "remove the _staging/<id>/ folders that no live run is writing"}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the ingest.toml file ([ingest] and [spark] sections)")
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON result")


def add_parsers(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="the NDJSON -> tokenized Parquet pipeline (docs/ingestion.md)")
    steps = ingest.add_subparsers(dest="ingest_command", required=True)
    for name, text in INGEST.items():
        sub = steps.add_parser(name, help=text)
        _common(sub)
        if name == "manifest":
            sub.add_argument("--flush", action="store_true", help="also make the last, partial manifests")
        if name == "run":
            sub.add_argument("--manifest", help="run this manifest only (also a failed or completed one: a re-run "
                                                "replaces its output)")
    state = commands.add_parser("state", help="the pipeline's operations tool: query and repair the state table")
    ops = state.add_subparsers(dest="state_command", required=True)
    for name, text in STATE.items():
        sub = ops.add_parser(name, help=text)
        _common(sub)
        if name in ("get", "timeline", "update"):
            sub.add_argument("file", help="the file as tracked (its landing path), or a manifest id")
        if name == "list":
            sub.add_argument("--status", required=True, help=", ".join(dict.fromkeys(FILE_STATUSES + MANIFEST_STATUSES)))
            sub.add_argument("--manifests", action="store_true", help="list manifests instead of files")
        if name == "update":
            sub.add_argument("--status", required=True, help="the new status")
            sub.add_argument("--reason", help="recorded in the timeline")
        if name == "reset-stuck":
            sub.add_argument("--older-than", required=True, help="e.g. 30m, 2h, 1d")
        if name == "batch-update":
            sub.add_argument("--from", dest="source", required=True, help="the current status")
            sub.add_argument("--to", dest="target", required=True, help="the new status")
            sub.add_argument("--older-than", help="only records unchanged for this long, e.g. 2h")


def main(args: argparse.Namespace) -> int:
    from .commands import Context, ingest, state_command
    from .config import ConfigError, load_config
    from .convert import ConversionError
    from .state import StateError

    where = f"{args.command} {getattr(args, 'ingest_command', None) or args.state_command}"
    try:
        config = load_config(args.config)
        with Context(config) as context:
            if args.command == "ingest":
                result, status = ingest(context, args.ingest_command, flush=getattr(args, "flush", False),
                                        manifest=getattr(args, "manifest", None))
            else:
                options = {k: v for k, v in vars(args).items() if k not in ("command", "state_command", "config", "json")}
                result, status = state_command(context, args.state_command, **options)
    except (ConfigError, StateError, ConversionError, ValueError, OSError) as error:
        if args.json:
            print(json.dumps({"error": str(error), "type": type(error).__name__}))
        print(f"tegridy-tokens {where}: {error}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1
    print(json.dumps(result, default=str) if args.json else render(result))
    return status


def render(value: Any, indent: str = "") -> str:
    """A readable rendering of a result: nested keys indented, lists of records one per line."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{indent}{key}:")
                lines.append(render(item, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {item if item not in ({}, []) else '-'}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                lines.append(f"{indent}- " + ", ".join(f"{k}={v}" for k, v in item.items() if not isinstance(v, (dict, list))))
            else:
                lines.append(f"{indent}- {item}")
    else:
        lines.append(f"{indent}{value}")
    return "\n".join(lines)
