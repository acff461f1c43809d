from accounts.models import Membership


def memberships_for_user(*, user):
    return Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")


def api_tokens_for(*, user):
    """The user's API tokens: live ones first, newest first."""
    from django.db.models import F

    from accounts.models import ApiToken

    return ApiToken.objects.filter(user=user).order_by(F("revoked_at").desc(nulls_first=True), "-created_at", "-pk")
