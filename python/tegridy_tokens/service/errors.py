"""The service's own errors. Their messages say what is wrong and how to fix it, and never hold
a value or a token, so servers may pass them on to callers as they are."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the errors whose message is safe to show and to log."""


class InvalidRequest(ServiceError, ValueError):
    """The event is not one of the protocol's two shapes."""


class ConfigurationError(ServiceError):
    """A setting (TEGRIDY_VAULT, TEGRIDY_OPERATIONS, TEGRIDY_KEYRING) is missing or wrong."""


class AccessDenied(ServiceError):
    """The operation asked for is not among this function's TEGRIDY_OPERATIONS."""


class KeysNotReady(ServiceError):
    """The keys are missing, or do not belong to the vault; nothing is served until fixed."""


class KeyringError(ServiceError):
    """A keyring file or record exists but cannot be used as it is."""


class VaultUnavailable(ServiceError):
    """The vault did not answer in time or refused the request; the batch may be retried."""


class UnknownKeyring(KeyringError):
    """Vault entries were sealed under a keyring this service does not hold (its record was lost or
    replaced): an error, never an empty answer."""
