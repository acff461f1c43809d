from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import ApplicationError


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


def exception_handler(exc, context):
    """Every API error answers {"detail": ..., "where": ..., "code": ...}."""
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message, "where": exc.where, "code": exc.code, **exc.extra}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": _first_message(exc.detail), "where": _first_field(exc.detail), "code": "invalid", "errors": response.data}
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

