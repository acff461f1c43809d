from django.contrib import admin
from rest_framework.authtoken.models import TokenProxy

from accounts.models import ApiToken

# REST framework's plain-text tokens are not used: API tokens are ApiToken rows, kept hashed.
admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["user"]
    readonly_fields = ["user", "name", "prefix", "key_hash", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]

    def has_add_permission(self, request):
        return False
