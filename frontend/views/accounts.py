"""Browser pages of the user's own account: API tokens (create, name, revoke, last used; a key is shown once).

The form plays the input serializer's part; the same services as the API make and revoke tokens.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.access import access_api_token
from accounts.selectors import api_tokens_for
from accounts.services import api_token_create, api_token_revoke
from common.errors import ApplicationError

app_name = "accounts"

TOKENS_PER_PAGE = 25


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label=gettext_lazy("Name"),
                           help_text=gettext_lazy("What will use it, e.g. “nightly export script” or “shop backend”."))


@login_required
def token_list_view(request):
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, key = api_token_create(user=request.user, name=form.cleaned_data["name"], created_by=request.user)
        except ApplicationError as exc:
            form.add_error("name" if exc.where == "name" else None, exc.message)
        else:
            # The key is rendered into this answer only (no redirect that would have to carry it).
            context = {"token": token, "key": key, "api_url": request.build_absolute_uri("/api/v1/"),
                       "server_url": request.build_absolute_uri("/v1")}
            return render(request, "frontend/accounts/token_created.html", context)
    tokens = Paginator(api_tokens_for(user=request.user), TOKENS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "frontend/accounts/token_list.html", {"form": form, "tokens": tokens},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke_view(request, token_id: int):
    token = api_token_revoke(token=access_api_token(request.user, token_id), revoked_by=request.user)
    messages.success(
        request,
        _("Token “%(name)s” (%(prefix)s…) revoked: it no longer works.") % {"name": token.name, "prefix": token.prefix},
    )
    return redirect(reverse("accounts:token-list"))


urlpatterns = [
    path("tokens/", token_list_view, name="token-list"),
    path("tokens/<int:token_id>/revoke/", token_revoke_view, name="token-revoke"),
]
