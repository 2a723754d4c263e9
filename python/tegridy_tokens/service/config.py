"""Building the engine from settings: the vault URL, the operations and where the keys are.
The Lambda handler reads them from its environment; the local server from its arguments."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigurationError
from .keyring import DETOKENIZE, TOKENIZE, Keyring, load_keyring
from .tokens import TokenEngine
from .vault import open_vault, vault_url

BOTH = frozenset({TOKENIZE, DETOKENIZE})


def parse_operations(text: str | None, default: frozenset[str]) -> frozenset[str]:
    """`tokenize`, `detokenize`, `both`, or a comma-separated list of the first two."""
    if text is None or not text.strip():
        return default
    words = {word.strip().lower() for word in text.split(",") if word.strip()}
    if words == {"both"}:
        return BOTH
    if not words or not words <= BOTH:
        raise ConfigurationError("TEGRIDY_OPERATIONS must be tokenize, detokenize, or both (tokenize,detokenize)")
    return frozenset(words)


class Settings:
    """What an engine is built from; `from_environment` is the handler's view."""

    def __init__(self, vault: str, operations: frozenset[str], keyring: str | None = None):
        self.vault = vault
        self.operations = operations
        self.keyring = keyring

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        vault = environ.get("TEGRIDY_VAULT")
        if not vault:
            raise ConfigurationError("TEGRIDY_VAULT is not set; set it to dynamodb://TABLE_NAME (the shared vault "
                                     "on AWS) or sqlite:///path/to/vault.db (one instance only)")
        # On Lambda the default is the narrower operation; each function states its own.
        operations = parse_operations(environ.get("TEGRIDY_OPERATIONS"), frozenset({TOKENIZE}))
        return cls(vault_url(vault), operations, environ.get("TEGRIDY_KEYRING") or None)


def build_engine(settings: Settings, stateless: bool = False, dynamodb_client: Any = None,
                 kms: Any = None) -> TokenEngine:
    """The engine, or KeysNotReady/KeyringError/ConfigurationError naming the fix. Never makes keys."""
    vault = open_vault(settings.vault, dynamodb_client)

    def load() -> Keyring:
        return load_keyring(vault, settings.operations, settings.keyring, kms)

    return TokenEngine(load(), None if stateless else vault, settings.operations, reload_keyring=load)


def default_home() -> Path:
    """Where the local service keeps its vault and keyring unless told otherwise."""
    return Path(os.environ.get("TEGRIDY_HOME", Path.home() / ".tegridy"))


def open_engine(vault: str | os.PathLike[str] | None = None, keyring: str | os.PathLike[str] | None = None,
                stateless: bool = False, operations: frozenset[str] = BOTH) -> TokenEngine:
    """The local service's engine (defaults: vault.db under `default_home()`, keyring.json beside
    it). The local development convenience: a brand-new SQLite vault with no keyring file gets
    its keys here, as `tegridy-tokens keys init --keyring` would make them (and as it, refused
    over a vault that holds entries). Anything else (a DynamoDB vault, an existing vault without
    its keys) is never initialised implicitly.
    `stateless` (benchmarks) touches no file at all: a throwaway token key held in memory, tokens
    only, no detokenize."""
    from .keys import init_keys
    from .keyring import read_keyring_file, read_record

    if stateless:
        return TokenEngine(Keyring("stateless", 0, b"", token_key=secrets.token_bytes(32)), None, operations)

    url = vault_url(vault if vault is not None else default_home() / "vault.db")
    if keyring is None and url.startswith("sqlite://"):
        keyring = Path(url[len("sqlite://"):]).parent / "keyring.json"
    store = open_vault(url, create=True)
    if url.startswith("sqlite://") and keyring is not None and read_record(store) is None:
        if not Path(keyring).exists():
            init_keys(store, keyring_path=keyring)
        else:
            read_keyring_file(keyring)  # a keyring from before `keys init` says so, by name

    def load() -> Keyring:
        return load_keyring(store, operations, keyring)

    return TokenEngine(load(), store, operations, reload_keyring=load)
