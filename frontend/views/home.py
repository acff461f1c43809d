from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import path

from accounts.selectors import memberships_for_user


@login_required
def home(request):
    return render(request, "frontend/home.html", {"memberships": memberships_for_user(user=request.user)})


urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
