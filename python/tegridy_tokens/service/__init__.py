"""The reference tokenization service: Lambda handler, token engine, vault and local server."""

from .handler import lambda_handler
from .local import LocalService, local_service, open_engine

__all__ = ["lambda_handler", "local_service", "LocalService", "open_engine"]
