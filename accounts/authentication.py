"""API tokens on every API endpoint: `Authorization: Token <key>` or `Authorization: Bearer <key>`.

Keys of feedback ingest tokens (wfb_…) are left to feedback.authentication, which the feedback endpoint
lists first; everywhere else such a key authenticates nobody.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.services import api_token_authenticate

KEYWORDS = (b"token", b"bearer")
FOREIGN_PREFIXES = ("wfb_",)


def api_key_from(header: bytes) -> str | None:
    """The key of a `Token <key>` or `Bearer <key>` header, or None when the header is something else."""
    parts = header.split()
    if not parts or parts[0].lower() not in KEYWORDS:
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed("send the token as 'Authorization: Token <key>' (one key, no spaces)")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("a token has only ASCII characters") from None


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        key = api_key_from(authentication.get_authorization_header(request))
        if key is None or key.startswith(FOREIGN_PREFIXES):
            return None
        token = api_token_authenticate(key=key)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("invalid or revoked API token")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return "Token"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "an API token from Account → API tokens, sent as `Token <key>` (or `Bearer <key>`)"}
