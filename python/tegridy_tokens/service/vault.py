"""Choosing the vault from TEGRIDY_VAULT: `sqlite:///path` (embedded default) or `dynamodb://TABLE`."""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping, Protocol, Sequence

from .errors import ConfigurationError
from .retry import Deadline

# The vault record that holds the keyring's public part (and, with KMS, its wrapped keys).
KEYRING_RECORD = "keyring"


class Vault(Protocol):
    url: str
    operations: int  # database calls made so far (benchmarks report them per 100 items)

    def get_many(self, tokens: Sequence[str], deadline: Deadline) -> tuple[dict[str, bytes], set[str]]:
        """(found, failed): the sealed value of each stored token, and the tokens not read in time."""
        ...

    def put_many(self, entries: Mapping[str, bytes], deadline: Deadline) -> set[str]:
        """Stores the entries; returns the tokens not stored in time."""
        ...

    def replace_many(self, entries: Mapping[str, bytes], deadline: Deadline) -> set[str]:
        """Writes the entries whether or not their tokens have one (erasure's tombstones only;
        tokenize never replaces); returns the tokens not written in time."""
        ...

    def sealed_entries(self) -> Iterator[bytes]:
        """Every entry's sealed value (keys init reads them to refuse a vault that holds entries)."""
        ...

    def get_meta(self, name: str) -> tuple[str, int] | None: ...
    def put_meta(self, name: str, document: str, expected_revision: int | None) -> bool: ...


def vault_url(location: str | os.PathLike[str]) -> str:
    """A vault URL from a URL or, for the local commands, a bare SQLite file path."""
    text = os.fspath(location)
    if text.startswith(("sqlite://", "dynamodb://")):
        return text
    if "://" in text:
        raise ConfigurationError(
            "vault URL scheme not supported; use sqlite:///path/to/vault.db or dynamodb://TABLE_NAME")
    return f"sqlite://{os.path.abspath(text)}"


def open_vault(url: str, dynamodb_client: Any = None, create: bool = False) -> Vault:
    """The vault at `url`. DynamoDB's endpoint comes from the SDK's own settings
    (AWS_ENDPOINT_URL_DYNAMODB), so tests point this same code at DynamoDB Local. A SQLite file
    is made only with `create` (keys init, the local server); the handler never makes one."""
    url = vault_url(url)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        if not path.startswith("/"):
            raise ConfigurationError("TEGRIDY_VAULT sqlite URL needs an absolute path: sqlite:///path/to/vault.db")
        from .sqlite_vault import SqliteVault

        if not create and not os.path.exists(path):
            raise ConfigurationError(f"the vault file {path} does not exist; create it and its keys with "
                                     f"`tegridy-tokens keys init --vault {url} --keyring PATH`")
        return SqliteVault(path)
    table = url[len("dynamodb://"):].strip("/")
    if not table:
        raise ConfigurationError("TEGRIDY_VAULT dynamodb URL needs a table name: dynamodb://TABLE_NAME")
    from .dynamodb_vault import DynamoDbVault

    return DynamoDbVault(table, client=dynamodb_client)
