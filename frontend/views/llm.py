"""Browser pages of model endpoints: the list (with the built-in server's model ids), create, edit, delete, and a
"test connection" button answered by htmx.

Forms play the input serializer's part; changes go through llm.services, fetches through llm.access. API keys are
typed in, never shown back.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from common.errors import ApplicationError
from llm.access import MANAGE, access_endpoint_workspace, access_model_endpoint
from llm.selectors import endpoint_workspaces_for, model_call_recent, model_endpoint_list
from llm.services.endpoints import (
    model_endpoint_create,
    model_endpoint_delete,
    model_endpoint_test,
    model_endpoint_update,
)
from training.server.registry import served_model_list

app_name = "llm"

LIST_LIMIT = 200
SETTINGS = [
    "base_url",
    "model",
    "timeout_seconds",
    "max_retries",
    "backoff_seconds",
    "concurrency",
    "requests_per_minute",
]


class EndpointForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    base_url = forms.CharField(max_length=500, label=gettext_lazy("Base URL"),
                               help_text=gettext_lazy("Up to and including /v1, e.g. http://127.0.0.1:8000/v1 or "
                                                      "https://api.openai.com/v1. Loopback and private addresses only "
                                                      "where the operator allowed them."))
    model = forms.CharField(max_length=300, label=gettext_lazy("Model"),
                            help_text=gettext_lazy("The model name the endpoint expects."))
    api_key = forms.CharField(required=False, label=gettext_lazy("API key"),
                              widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                              help_text=gettext_lazy("Stored encrypted and never shown again. Leave empty to keep the "
                                                     "stored key."))
    api_key_env = forms.CharField(required=False, max_length=200, label=gettext_lazy("or: environment variable"))
    timeout_seconds = forms.FloatField(initial=60.0, min_value=0.001, label=gettext_lazy("Timeout (seconds)"))
    max_retries = forms.IntegerField(initial=3, min_value=0, max_value=10, label=gettext_lazy("Retries"),
                                     help_text=gettext_lazy("On 429, 5xx and timeouts; never on other errors."))
    backoff_seconds = forms.FloatField(initial=0.5, min_value=0, label=gettext_lazy("First retry after (seconds)"),
                                       help_text=gettext_lazy("Each further retry waits twice as long."))
    concurrency = forms.IntegerField(initial=4, min_value=1, max_value=64, label=gettext_lazy("Requests at once"))
    requests_per_minute = forms.IntegerField(initial=0, min_value=0, label=gettext_lazy("Requests per minute"),
                                             help_text=gettext_lazy("0 means no limit."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        patterns = settings.ENDPOINT_KEY_ENV_ALLOWED
        self.fields["api_key_env"].help_text = _(
            "The name of an environment variable on the server that holds the key, e.g. OPENAI_API_KEY. The operator "
            "allows names matching %(patterns)s.") % {"patterns": ", ".join(patterns)} if patterns else _(
            "The operator allows no environment variables for keys: type the key above.")

    def clean(self):
        data = super().clean()
        if data.get("api_key") and data.get("api_key_env"):
            self.add_error("api_key", _("Give either an API key or the environment variable holding it, not both."))
        return data


class EndpointCreateForm(EndpointForm):
    workspace = forms.ModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Workspace"))
    field_order = ["workspace"]

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


class EndpointEditForm(EndpointForm):
    clear_api_key = forms.BooleanField(required=False, label=gettext_lazy("Remove the key"))


def _service_error(form: forms.Form, exc: ApplicationError) -> None:
    form.add_error(exc.where if exc.where in form.fields else None, exc.message)


@login_required
def endpoint_list_view(request):
    endpoints = list(model_endpoint_list(user=request.user)[:LIST_LIMIT])
    manageable = set(endpoint_workspaces_for(user=request.user).values_list("pk", flat=True))
    for endpoint in endpoints:
        endpoint.can_manage = endpoint.workspace_id in manageable
    return render(request, "frontend/llm/endpoint_list.html", {
        "endpoints": endpoints,
        "can_create": bool(manageable),
        "served_models": served_model_list(user=request.user),
        "server_url": request.build_absolute_uri("/v1"),
    })


@login_required
def endpoint_create_view(request):
    workspaces = endpoint_workspaces_for(user=request.user)
    if not workspaces.exists():
        raise Http404
    form = EndpointCreateForm(request.POST or None, workspaces=workspaces)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        workspace = access_endpoint_workspace(request.user, data["workspace"].pk)
        try:
            endpoint = model_endpoint_create(workspace=workspace, name=data["name"], api_key=data["api_key"],
                                             api_key_env=data["api_key_env"], created_by=request.user,
                                             **{name: data[name] for name in SETTINGS})
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, _("Model endpoint “%(name)s” created.") % {"name": endpoint.name})
            return redirect("llm:endpoint-edit", endpoint_id=endpoint.pk)
    return render(request, "frontend/llm/endpoint_form.html", {"form": form, "endpoint": None},
                  status=400 if form.errors else 200)


@login_required
def endpoint_edit_view(request, endpoint_id: int):
    endpoint = access_model_endpoint(request.user, endpoint_id, capability=MANAGE)
    initial = {
        "name": endpoint.name,
        "api_key_env": endpoint.api_key_env,
        **{name: getattr(endpoint, name) for name in SETTINGS},
    }
    form = EndpointEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            endpoint = model_endpoint_update(
                endpoint=endpoint,
                updated_by=request.user,
                name=data["name"],
                api_key=data["api_key"] or None,
                api_key_env=data["api_key_env"] or None,
                clear_api_key=data["clear_api_key"],
                **{name: data[name] for name in SETTINGS},
            )
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, _("Model endpoint “%(name)s” saved.") % {"name": endpoint.name})
            return redirect("llm:endpoint-edit", endpoint_id=endpoint.pk)
    return render(request, "frontend/llm/endpoint_form.html", {
        "form": form, "endpoint": endpoint, "calls": model_call_recent(endpoint=endpoint),
    }, status=400 if form.errors else 200)


@login_required
@require_POST
def endpoint_delete_view(request, endpoint_id: int):
    endpoint = access_model_endpoint(request.user, endpoint_id, capability=MANAGE)
    name = endpoint.name
    model_endpoint_delete(endpoint=endpoint, deleted_by=request.user)
    messages.success(request, _("Model endpoint “%(name)s” deleted.") % {"name": name})
    return redirect("llm:endpoint-list")


@login_required
@require_POST
def endpoint_test_view(request, endpoint_id: int):
    """The result panel of the "Test connection" button (an htmx fragment)."""
    endpoint = access_model_endpoint(request.user, endpoint_id, capability=MANAGE)
    return render(
        request,
        "frontend/llm/_test_result.html",
        {"endpoint": endpoint, "result": model_endpoint_test(endpoint=endpoint)},
    )


urlpatterns = [
    path("", endpoint_list_view, name="endpoint-list"),
    path("new/", endpoint_create_view, name="endpoint-create"),
    path("<int:endpoint_id>/edit/", endpoint_edit_view, name="endpoint-edit"),
    path("<int:endpoint_id>/delete/", endpoint_delete_view, name="endpoint-delete"),
    path("<int:endpoint_id>/test/", endpoint_test_view, name="endpoint-test"),
]
