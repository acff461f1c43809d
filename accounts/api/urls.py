from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/token/", views.TokenObtainApi.as_view(), name="api-token"),
    path("me/", views.MeApi.as_view(), name="api-me"),
]
