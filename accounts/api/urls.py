from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/token/", views.TokenObtainApi.as_view(), name="api-token"),
    path("auth/tokens/", views.ApiTokenListApi.as_view(), name="api-tokens"),
    path("auth/tokens/<int:token_id>/revoke/", views.ApiTokenRevokeApi.as_view(), name="api-token-revoke"),
    path("me/", views.MeApi.as_view(), name="api-me"),
]
