"""API keys of model endpoints: encrypted at rest with a Fernet key derived from SECRET_KEY, or read from the
environment.

An endpoint sends its key to a URL its creator chose, so the environment variable it names must be one the operator
meant for keys: its name matches ENDPOINT_KEY_ENV_ALLOWED (WHETSTONE_ENDPOINT_KEY_ENV_ALLOWED, default "*_API_KEY,
WHETSTONE_KEY_*"), and it is none of the server's own settings, whatever the patterns say: no Django setting, no name
the settings module mentions (SECRET_KEY, DATABASE_URL, ...), nothing under DJANGO_ or WHETSTONE_ (but WHETSTONE_KEY_).
The rule is checked when an endpoint is saved and again before every use, so a row saved before it cannot leak.
"""

import base64
import fnmatch
import hashlib
import importlib
import os
import re
from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from common.errors import ApplicationError

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SERVER_PREFIXES = ("DJANGO_", "WHETSTONE_")
KEY_PREFIX = "WHETSTONE_KEY_"


@cache
def _server_setting_names() -> frozenset[str]:
    """Every Django setting, and every upper-case name the settings module mentions (the variables it reads)."""
    names = {name for name in dir(settings) if name.isupper()}
    module = importlib.import_module(os.environ.get("DJANGO_SETTINGS_MODULE") or "config.settings")
    names.update(re.findall(r"[\"']([A-Z][A-Z0-9_]*)[\"']", Path(module.__file__).read_text(encoding="utf-8")))
    return frozenset(names)


def api_key_env_check(name: str) -> None:
    """Refuse (ApplicationError at api_key_env) an environment variable an endpoint may not take its key from."""
    if len(name) > 200 or not ENV_NAME.fullmatch(name):
        raise ApplicationError(
            _("%(name)s is not an environment variable name (letters, digits and _, not starting with a digit)")
            % {"name": repr(name[:200])},
            where="api_key_env",
        )
    upper = name.upper()
    own = upper in _server_setting_names() or (upper.startswith(SERVER_PREFIXES) and not upper.startswith(KEY_PREFIX))
    if own:
        raise ApplicationError(
            _(
                "the environment variable %(name)s may not hold an endpoint's key: the server reads it for "
                "its own settings"
            )
            % {"name": name},
            where="api_key_env",
        )
    patterns = settings.ENDPOINT_KEY_ENV_ALLOWED
    if not patterns:
        raise ApplicationError(
            _(
                "the environment variable %(name)s may not hold an endpoint's key: the operator allows none "
                "(WHETSTONE_ENDPOINT_KEY_ENV_ALLOWED is empty); store the key encrypted instead"
            )
            % {"name": name},
            where="api_key_env",
        )
    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
        raise ApplicationError(
            _(
                "the environment variable %(name)s may not hold an endpoint's key: the operator allows only "
                "names matching %(patterns)s (WHETSTONE_ENDPOINT_KEY_ENV_ALLOWED)"
            )
            % {"name": name, "patterns": ", ".join(patterns)},
            where="api_key_env",
        )


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
    variable is not one an endpoint may use (see api_key_env_check) or is not set, so a job fails with the reason
    instead of a 401 from the provider."""
    if endpoint.api_key_env:
        api_key_env_check(endpoint.api_key_env)
        value = os.environ.get(endpoint.api_key_env)
        if value is None:
            raise ApplicationError(f"the environment variable {endpoint.api_key_env} (API key of model endpoint "
                                   f"{endpoint.name!r}) is not set", where="api_key_env")
        return value
    if endpoint.api_key_encrypted:
        return api_key_decrypt(endpoint.api_key_encrypted)
    return ""
