"""`ingest.toml`: the `[ingest]` section (the pipeline's keys and defaults) and the
`[spark]` section (Spark and `spark.tegridy.*` settings), parsed once into `IngestConfig`."""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import join

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as the tomli package (a dependency there)
    import tomli as tomllib

DEFAULT_DATE_PATTERN = r"(\d{4}-\d{2}-\d{2})"
# The formats of `tegridy_tokenize_hp(value, format)` (docs/functions.md); "default" gives plain tokens.
KNOWN_FORMATS = frozenset({"default", "ssn", "credit_card", "phone", "email"})

DEFAULTS: dict[str, Any] = {
    "max_files_per_manifest": 200,
    "max_batch_size_gb": 0.7,
    "expected_file_size_mb": 10.0,
    "size_tolerance_percent": 99.0,
    "target_file_size_mb": 128.0,
    "date_pattern": DEFAULT_DATE_PATTERN,
    "pii_columns": {},
    # How long a file may sit in pending/manifested/processing before
    # `state orphans` calls it stuck, and the lock's TTL.
    "stuck_after": "1h",
    "lock_ttl_seconds": 300,
    # A runner's claim on a manifest lives this long unless renewed (every quarter of it, while
    # the job runs); a dead runner's manifests are free again after it.
    "lease_seconds": 120,
    # How many times `ingest run` takes a manifest (first run and retries of a failed one).
    "max_attempts": 3,
}
REQUIRED = ("landing", "output")
KNOWN = set(DEFAULTS) | set(REQUIRED) | {"quarantine", "state"}
SECTIONS = ("ingest", "spark")
MB = 1024 * 1024


class ConfigError(ValueError):
    """ingest.toml is missing, unreadable or holds a wrong key or value; the message names which."""


@dataclass(frozen=True)
class IngestConfig:
    landing: str
    output: str
    quarantine: str
    state: str
    max_files_per_manifest: int = 200
    max_batch_size_gb: float = 0.7
    expected_file_size_mb: float = 10.0
    size_tolerance_percent: float = 99.0
    target_file_size_mb: float = 128.0
    pii_columns: dict[str, str] = field(default_factory=dict)
    date_pattern: str = DEFAULT_DATE_PATTERN
    stuck_after_s: float = 3600.0
    lock_ttl_seconds: int = 300
    lease_seconds: int = 120
    max_attempts: int = 3
    spark: dict[str, str] = field(default_factory=dict)

    @property
    def max_batch_bytes(self) -> int:
        return int(self.max_batch_size_gb * 1024 * MB)

    @property
    def size_band(self) -> tuple[int, int]:
        """(min, max) accepted bytes: expected ± tolerance."""
        low = self.expected_file_size_mb * (1 - self.size_tolerance_percent / 100)
        high = self.expected_file_size_mb * (1 + self.size_tolerance_percent / 100)
        return int(low * MB), int(high * MB)

    @property
    def manifests_dir(self) -> str:
        return join(self.output, "_manifests")

    @property
    def corrupt_dir(self) -> str:
        return join(self.output, "_corrupt")

    @property
    def staging_dir(self) -> str:
        return join(self.output, "_staging")


def parse_duration(text: str | int | float, what: str = "duration") -> float:
    """'90s', '15m', '2h', '1d' or a number of seconds -> seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not match:
        raise ConfigError(f"{what} {text!r} is not a duration; write e.g. 90s, 15m, 2h or 1d")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def load_config(path: str | Path) -> IngestConfig:
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass --config with the path of your ingest.toml") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    return parse_config(document, base=path.parent)


def _closest(name: str, known: Any) -> str | None:
    found = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return found[0] if found else None


def parse_config(document: dict[str, Any], base: Path | None = None) -> IngestConfig:
    for name in document:
        if name not in SECTIONS:
            near = _closest(name, SECTIONS)
            hint = f" (did you mean [{near}]?)" if near else ""
            raise ConfigError(f"unknown section [{name}] in ingest.toml{hint}; the sections are [ingest] and [spark]")
    section = document.get("ingest")
    if not isinstance(section, dict):
        raise ConfigError("ingest.toml needs an [ingest] section with at least `landing` and `output`")
    unknown = sorted(set(section) - KNOWN)
    if unknown:
        named = ", ".join(name + (f" (did you mean {near}?)" if (near := _closest(name, KNOWN)) else "")
                          for name in unknown)
        raise ConfigError(f"unknown key(s) in [ingest]: {named}; known keys: {', '.join(sorted(KNOWN))}")
    for key in REQUIRED:
        if not isinstance(section.get(key), str) or not section[key].strip():
            raise ConfigError(f"[ingest] needs `{key}` (a local path or a Hadoop URI such as s3a://bucket/prefix)")
    values = {**DEFAULTS, **section}

    def location(key: str) -> str:
        text = str(values[key]).strip()
        # Relative local paths are relative to the config file, so a config works from any cwd.
        if "://" not in text and base is not None and not Path(text).is_absolute():
            text = str((base / text).resolve())
        return text.rstrip("/") if len(text) > 1 else text

    landing, output = location("landing"), location("output")
    # Quarantined files are raw landed data, plaintext PII included: by default they stay in the
    # landing zone (under _quarantine/, which `track` and Spark skip), never in the tokenized output.
    quarantine = location("quarantine") if "quarantine" in section else join(landing, "_quarantine")
    state = str(values.get("state") or "").strip()
    if not state:
        if "://" in output:
            raise ConfigError(f"[ingest] output {output!r} is not a local path, so the default state (a SQLite file "
                              "beside the output) cannot be used; set state = \"dynamodb://TABLE\" or sqlite:///local/path.db")
        state = "sqlite://" + join(output, "_state.db")
    if state.startswith("sqlite://"):
        raw = state[len("sqlite://"):]
        if not Path(raw).is_absolute():
            raw = str(((base or Path.cwd()) / raw.lstrip("/")).resolve())
        state = "sqlite://" + raw
    elif not state.startswith("dynamodb://") or len(state) <= len("dynamodb://"):
        raise ConfigError(f"[ingest] state = {state!r}: write sqlite:///path/to/state.db or dynamodb://TABLE")

    def number(key: str, kind: type, minimum: float) -> Any:
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise ConfigError(f"[ingest] {key} = {value!r} must be a{'n integer' if kind is int else ' number'}")
        if value < minimum:
            raise ConfigError(f"[ingest] {key} = {value!r} must be at least {minimum}")
        return kind(value)

    tolerance = number("size_tolerance_percent", float, 0)
    if tolerance > 100:
        raise ConfigError(f"[ingest] size_tolerance_percent = {tolerance} must be between 0 and 100")
    pattern = values["date_pattern"]
    try:
        if re.compile(pattern).groups != 1:
            raise ConfigError(f"[ingest] date_pattern {pattern!r} must have exactly one group (the date)")
    except re.error as error:
        raise ConfigError(f"[ingest] date_pattern {pattern!r} is not a regular expression: {error}") from None
    spark = document.get("spark", {})
    if not isinstance(spark, dict):
        raise ConfigError("[spark] must be a table of Spark settings, e.g. \"spark.tegridy.maxInFlight\" = 16")
    spark = _flatten(spark)
    for key in spark:
        if not key.startswith("spark."):
            raise ConfigError(f"[spark] {key} is not a Spark setting (they start with spark.); did you mean "
                              f"\"spark.{key}\"?")
    return IngestConfig(
        landing=landing, output=output, quarantine=quarantine, state=state,
        max_files_per_manifest=number("max_files_per_manifest", int, 1),
        max_batch_size_gb=number("max_batch_size_gb", float, 0.000001),
        expected_file_size_mb=number("expected_file_size_mb", float, 0),
        size_tolerance_percent=tolerance,
        target_file_size_mb=number("target_file_size_mb", float, 0.001),
        pii_columns=parse_pii_columns(values["pii_columns"]),
        date_pattern=pattern,
        stuck_after_s=parse_duration(values["stuck_after"], "[ingest] stuck_after"),
        lock_ttl_seconds=number("lock_ttl_seconds", int, 1),
        lease_seconds=number("lease_seconds", int, 4),
        max_attempts=number("max_attempts", int, 1),
        spark={str(k): _spark_value(v) for k, v in spark.items()},
    )


def split_pii_spec(spec: str) -> tuple[str, str | None]:
    """(format, scope or None) of a pii_columns entry: "FORMAT" or "FORMAT@SCOPE"."""
    fmt, _, scope = spec.partition("@")
    return fmt, (scope or None)


def parse_pii_columns(value: Any) -> dict[str, str]:
    """`{ email = "email", ssn = "default@crm" }`, a list of names, or "" -> {column: "FORMAT[@SCOPE]"}."""
    from ..service.scopes import NAME_RULE, is_scope_name

    if value in ("", None):
        return {}
    if isinstance(value, list):
        value = {name: "default" for name in value}
    if not isinstance(value, dict):
        raise ConfigError('[ingest] pii_columns must be a table of column = format, e.g. { email = "default", ssn = "default" }')
    columns: dict[str, str] = {}
    for name, fmt in value.items():
        if isinstance(fmt, dict):
            raise ConfigError(f"[ingest] pii_columns.{name} is a table; pii_columns name top-level keys "
                              f"(a key with a dot in its name is quoted: \"{name}.x\" = \"default\")")
        form, scope = split_pii_spec(fmt) if isinstance(fmt, str) else (fmt, None)
        if not isinstance(form, str) or form not in KNOWN_FORMATS:
            raise ConfigError(f"[ingest] pii_columns.{name} = {fmt!r}: the format must be one of {', '.join(sorted(KNOWN_FORMATS))}, "
                              'optionally followed by @SCOPE (e.g. "default@marketing")')
        if isinstance(fmt, str) and "@" in fmt and (scope is None or not is_scope_name(scope)):
            raise ConfigError(f"[ingest] pii_columns.{name} = {fmt!r}: the scope after '@' must be {NAME_RULE}")
        columns[str(name)] = fmt
    return columns


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    # [spark] may be written flat ("spark.sql.shuffle.partitions" = 8) or as TOML sub-tables.
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _spark_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
