"""The `ingest` and `state` commands as functions of parsed arguments, returning a JSON-able
result and an exit status; `Context` opens the config, the state store, the file systems and,
only when a command needs one, the SparkSession (tests pass their own)."""

from __future__ import annotations

import contextlib
from typing import Any

from .build import build
from .claims import new_owner
from .config import IngestConfig, parse_duration
from .paths import AnyFileSystem
from .run import run_manifest, runnable
from .state import FAILED, IllegalTransition, StateConflict, StateStore, open_state
from .track import track
from . import operations


class Context(contextlib.ExitStack):
    def __init__(self, config: IngestConfig, spark: Any = None, state: StateStore | None = None):
        super().__init__()
        self.config = config
        self._spark = spark
        self._state = state
        self.fs = AnyFileSystem(lambda: self.spark)

    @property
    def state(self) -> StateStore:
        if self._state is None:
            self._state = open_state(self.config.state)
            self.callback(self._state.close)
        return self._state

    @property
    def spark(self) -> Any:
        if self._spark is None:
            from .session import ingest_session

            self._spark = self.enter_context(ingest_session(self.config))
        return self._spark


def ingest(context: Context, command: str, flush: bool = False, manifest: str | None = None) -> tuple[dict, int]:
    config, state, fs = context.config, context.state, context.fs
    if command == "track":
        return track(config, state, fs), 0
    if command == "manifest":
        return build(config, state, fs, flush), 0
    if command == "run":
        return _run(context, manifest)
    if command == "all":
        tracked = track(config, state, fs)
        built = build(config, state, fs, flush=True)
        ran, status = _run(context, None)
        return {"track": tracked, "manifest": built, "run": ran}, status
    raise ValueError(f"unknown ingest command {command!r}")


def _run(context: Context, manifest: str | None) -> tuple[dict, int]:
    """Claims and runs each runnable manifest (or the one named) in one Spark session, started at
    the first claim won; a manifest another runner claimed first is skipped, never touched."""
    state, config = context.state, context.config
    owner = new_owner()
    if manifest:
        chosen = [(manifest, None)]
    else:
        chosen = [(r["key"], r["status"]) for r in runnable(state, config.max_attempts, state.clock())]
    results = []
    for manifest_id, status in chosen:
        try:
            results.append(run_manifest(config, state, context.fs, lambda: context.spark, manifest_id, owner,
                                        expect=status))
        except (StateConflict, IllegalTransition):
            if manifest:
                raise
            results.append({"manifest": manifest_id, "status": "skipped", "reason": "claimed by another runner"})
    failed = [r for r in results if r["status"] == FAILED]
    done = [r for r in results if r["status"] == "completed"]
    exhausted = [r["key"] for r in state.scan("manifest", FAILED) if r.get("attempts", 0) >= config.max_attempts]
    summary = {"manifests": results, "completed": len(done), "failed": len(failed),
               "rows": sum(r.get("rows", 0) for r in results), "corrupt_rows": sum(r.get("corrupt_rows", 0) for r in results),
               "failed_without_attempts_left": exhausted}
    return summary, 1 if failed else 0


def state_command(context: Context, command: str, **options: Any) -> tuple[dict, int]:
    config, state, fs = context.config, context.state, context.fs
    if command == "get":
        return operations.get(state, options["file"]), 0
    if command == "list":
        return operations.list_status(state, options["status"], "manifest" if options.get("manifests") else "file"), 0
    if command == "stats":
        return operations.stats(state), 0
    if command == "timeline":
        return operations.timeline(state, options["file"]), 0
    if command == "orphans":
        return operations.orphans(config, state, fs), 0
    if command == "reset-stuck":
        return operations.reset_stuck(state, parse_duration(options["older_than"], "--older-than")), 0
    if command == "validate":
        result = operations.validate(config, state, fs)
        return result, 0 if result["ok"] else 1
    if command == "clean-staging":
        return operations.clean_staging(config, state, fs), 0
    if command == "update":
        return operations.update(state, fs, options["file"], options["status"], options.get("reason")), 0
    if command == "batch-update":
        older = options.get("older_than")
        return operations.batch_update(state, options["source"], options["target"],
                                       parse_duration(older, "--older-than") if older else None), 0
    raise ValueError(f"unknown state command {command!r}")
