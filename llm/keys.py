"""API keys of model endpoints: encrypted at rest with a Fernet key derived from SECRET_KEY, or read from the environment."""

import base64
import hashlib
import os

from django.conf import settings

from common.errors import ApplicationError


def _fernet():
    from cryptography.fernet import Fernet

    # A derived key rather than SECRET_KEY itself, so the encryption key is useless for signing sessions and vice versa.
    digest = hashlib.sha256(b"whetstone.llm.api-key:" + settings.SECRET_KEY.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def api_key_encrypt(key: str) -> str:
    return _fernet().encrypt(key.encode("utf-8")).decode("ascii")


def api_key_decrypt(token: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as error:
        raise ApplicationError("the stored API key cannot be decrypted (was SECRET_KEY changed?); enter the key again",
                               where="api_key") from error


def endpoint_api_key(endpoint) -> str:
    """The key to send to `endpoint`, or "" when it needs none. Raises ApplicationError when the named environment
    variable is not set, so a job fails with the reason instead of a 401 from the provider."""
    if endpoint.api_key_env:
        value = os.environ.get(endpoint.api_key_env)
        if value is None:
            raise ApplicationError(f"the environment variable {endpoint.api_key_env} (API key of model endpoint "
                                   f"{endpoint.name!r}) is not set", where="api_key_env")
        return value
    if endpoint.api_key_encrypted:
        return api_key_decrypt(endpoint.api_key_encrypted)
    return ""
