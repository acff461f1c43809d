"""Answers for the pages that no single view should have to write."""

from django.db.models import ProtectedError, RestrictedError
from django.shortcuts import render

from common.errors import in_use_message


class InUseMiddleware:
    """A delete refused because something still uses the object answers 409 with a page naming what uses it (the API's
    twin is common.api.exception_handler), instead of a server error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (ProtectedError, RestrictedError)):
            return render(request, "frontend/in_use.html", {"message": in_use_message(exception)}, status=409)
        return None
