"""Ingest tokens on the feedback endpoint: `Authorization: Bearer wfb_...` (or `Token wfb_...`).

A request authenticated this way has no user; `request.auth` is the FeedbackIngestToken, which can write events into
its own source and do nothing else anywhere. Other credentials fall through to the project's usual authentication.
"""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from feedback.services.sources import TOKEN_PREFIX, feedback_token_authenticate


class IngestTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() not in (b"bearer", b"token"):
            return None
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            return None
        if not key.startswith(TOKEN_PREFIX):
            return None
        token = feedback_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid or revoked ingest token")
        return AnonymousUser(), token

    def authenticate_header(self, request) -> str:
        return "Bearer"


class IngestTokenScheme(OpenApiAuthenticationExtension):
    target_class = IngestTokenAuthentication
    name = "feedbackIngestToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "a feedback source's ingest token (wfb_...)"}
