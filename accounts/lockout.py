"""What a locked-out sign-in gets: 429 with Retry-After, as JSON for scripts and as a page for the browser.

django-axes counts failed sign-ins per account and per address (settings.AXES_*); this is its AXES_LOCKOUT_CALLABLE.
"""

import math

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


def retry_after_seconds() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds()))


def lockout_response(request, original_response=None, credentials=None):
    seconds = retry_after_seconds()
    minutes = math.ceil(seconds / 60)
    if request.path.startswith(("/api/", "/v1/")):
        response = JsonResponse(
            {
                "detail": f"too many failed sign-ins; try again in {seconds} seconds",
                "where": "username",
                "code": "throttled",
            },
            status=429,
        )
    else:
        response = render(request, "frontend/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def client_address(request) -> str | None:
    """The client's address for counting failures: REMOTE_ADDR, or behind WHETSTONE_PROXY_COUNT trusted proxies the
    address the outermost of them saw (counted from the right of X-Forwarded-For, which a client can only prepend
    to)."""
    if settings.PROXY_COUNT:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= settings.PROXY_COUNT:
            return forwarded[-settings.PROXY_COUNT]
    return request.META.get("REMOTE_ADDR")
