from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.utils import json
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import ApplicationError, in_use_message
from common.json_limits import json_too_deep, too_deep_message


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with limits: at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (or the view's json_body_max_bytes) and
    common.json_limits' depth, each refused with a 400 that names the limit (instead of a RecursionError inside
    json)."""

    def parse(self, stream, media_type=None, parser_context=None):
        view = (parser_context or {}).get("view")
        limit = getattr(view, "json_body_max_bytes", settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise exceptions.ParseError(f"the JSON body is over {limit} bytes, the limit")
        if json_too_deep(raw):
            raise exceptions.ParseError(too_deep_message())
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding), parse_constant=json.strict_constant if self.strict else None)
        except (ValueError, UnicodeDecodeError) as error:
            raise exceptions.ParseError(f"the body is not valid JSON: {error}") from error


class JSONField(serializers.JSONField):
    """DRF's JSONField, with JSON sent as text (binary=True, as inside a multipart form) held to the depth limit."""

    def to_internal_value(self, data):
        if self.binary and isinstance(data, str | bytes) and json_too_deep(data):
            raise serializers.ValidationError(too_deep_message())
        return super().to_internal_value(data)


# ApplicationError codes that are not the caller's bad input but a clash with the current state.
CONFLICT_CODES = frozenset({"conflict", "in_use"})


def exception_handler(exc, context):
    """Every API error answers {"detail": ..., "where": ..., "code": ...}."""
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message, "where": exc.where, "code": exc.code, **exc.extra}
        conflict = exc.code in CONFLICT_CODES
        return Response(body, status=status.HTTP_409_CONFLICT if conflict else status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, (ProtectedError, RestrictedError)):
        body = {"detail": f"cannot delete: {in_use_message(exc)}", "where": "", "code": "in_use"}
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ParseError):
        response.data = {"detail": str(exc.detail), "where": "body", "code": "parse_error"}
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = {
            "detail": _first_message(exc.detail),
            "where": _first_field(exc.detail),
            "code": "invalid",
            "errors": response.data,
        }
    return response


def _first_field(detail) -> str:
    if isinstance(detail, dict) and detail:
        key = next(iter(detail))
        inner = _first_field(detail[key])
        return f"{key}.{inner}" if inner else str(key)
    return ""


def _first_message(detail) -> str:
    if isinstance(detail, dict) and detail:
        return _first_message(next(iter(detail.values())))
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def paginated(view, queryset, output_serializer):
    """Paginate a selector's queryset and serialise it with the view's OutputSerializer."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(output_serializer(page, many=True).data)

