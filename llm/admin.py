from django import forms
from django.contrib import admin

from common.errors import ApplicationError
from llm.keys import api_key_encrypt, api_key_env_check
from llm.models import CachedResponse, ModelCall, ModelEndpoint
from llm.outbound import base_url_check


class ModelEndpointAdminForm(forms.ModelForm):
    """The key is typed in clear once and stored encrypted; the form never shows it back. The key variable and the
    base URL follow the same rules as everywhere else (llm.keys, llm.outbound): an admin is no exception."""

    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                              help_text="Leave empty to keep the stored key. Stored encrypted; never shown again.")
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = ModelEndpoint
        exclude = ["api_key_encrypted"]

    def clean_api_key_env(self):
        name = self.cleaned_data.get("api_key_env", "").strip()
        if name:
            try:
                api_key_env_check(name)
            except ApplicationError as error:
                raise forms.ValidationError(error.message) from error
        return name

    def clean_base_url(self):
        base_url = self.cleaned_data.get("base_url", "").strip().rstrip("/")
        try:
            base_url_check(base_url)
        except ApplicationError as error:
            raise forms.ValidationError(error.message) from error
        return base_url

    def clean(self):
        data = super().clean()
        if data.get("api_key") and data.get("api_key_env"):
            raise forms.ValidationError("Give either an API key or the environment variable holding it, not both.")
        return data

    def save(self, commit=True):
        endpoint = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            endpoint.api_key_encrypted = ""
        if self.cleaned_data.get("api_key"):
            endpoint.api_key_encrypted = api_key_encrypt(self.cleaned_data["api_key"])
            endpoint.api_key_env = ""
        elif self.cleaned_data.get("api_key_env"):
            endpoint.api_key_encrypted = ""
        if commit:
            endpoint.save()
        return endpoint


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    form = ModelEndpointAdminForm
    list_display = [
        "name",
        "workspace",
        "base_url",
        "model",
        "has_api_key",
        "timeout_seconds",
        "max_retries",
        "concurrency",
        "requests_per_minute",
    ]
    list_filter = ["workspace"]
    search_fields = ["name", "base_url", "model"]
    list_select_related = ["workspace"]

    @admin.display(boolean=True, description="API key")
    def has_api_key(self, endpoint):
        return endpoint.has_api_key


@admin.register(ModelCall)
class ModelCallAdmin(admin.ModelAdmin):
    """Read-only: the log of what every call cost."""

    list_display = [
        "created_at",
        "endpoint",
        "purpose",
        "status",
        "cached",
        "attempts",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
    ]
    list_filter = ["status", "cached", "endpoint"]
    search_fields = ["purpose", "error"]
    list_select_related = ["endpoint"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CachedResponse)
class CachedResponseAdmin(admin.ModelAdmin):
    list_display = ["key", "endpoint", "hits", "created_at"]
    search_fields = ["key"]
    list_select_related = ["endpoint"]
    readonly_fields = ["key", "endpoint", "request", "response", "hits"]

    def has_add_permission(self, request):
        return False
