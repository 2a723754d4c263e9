"""The three KMS calls the keyring uses (GenerateDataKey, Encrypt, Decrypt), with errors that
name the key and the permission; the endpoint comes from AWS_ENDPOINT_URL_KMS when set."""

from __future__ import annotations

from typing import Any, Mapping

from .errors import KeysNotReady


class Kms:
    def __init__(self, client: Any = None):
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("kms")
        return self._client

    def generate_data_key(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        response = self._call("GenerateDataKey", key_id, KeyId=key_id, KeySpec="AES_256", EncryptionContext=dict(context))
        return response["Plaintext"], response["CiphertextBlob"]

    def encrypt(self, key_id: str, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        return self._call("Encrypt", key_id, KeyId=key_id, Plaintext=plaintext, EncryptionContext=dict(context))["CiphertextBlob"]

    def decrypt(self, key_id: str, blob: bytes, context: Mapping[str, str]) -> bytes:
        return self._call("Decrypt", key_id, KeyId=key_id, CiphertextBlob=blob, EncryptionContext=dict(context))["Plaintext"]

    def _call(self, operation: str, key_id: str, **request: Any) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        method = {"GenerateDataKey": "generate_data_key", "Encrypt": "encrypt", "Decrypt": "decrypt"}[operation]
        try:
            return getattr(self.client, method)(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            raise KeysNotReady(f"KMS refused {operation} with key {key_id} ({code}); this role needs kms:{operation} "
                               "on that key (see deploy/template.yaml), and the keyring must have been made with it") from None
        except BotoCoreError as error:
            raise KeysNotReady(f"KMS could not be reached for {operation} ({type(error).__name__}); retry") from None
