from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("datahub.api.urls")),
    path("", include("dedupe.api.urls")),
    path("", include("augmentation.api.urls")),
    path("", include("annotation.api.urls")),
    path("", include("feedback.api.urls")),
    path("", include("training.api.urls")),
    path("", include("evaluation.api.urls")),
    path("", include("llm.api.urls")),
    path("", include("graders.api.urls")),
    path("", include("releases.api.urls")),
    # The schema needs a login (a session or a token: SPECTACULAR_SETTINGS' SERVE_PERMISSIONS); the docs pages are for
    # people, so a visitor who is not logged in is sent to the login page. Swagger UI and Redoc are served from the
    # drf-spectacular-sidecar package: they work offline.
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", login_required(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path(
        "redoc/",
        login_required(SpectacularRedocView.as_view(url_name="api-schema", template_name="frontend/api_redoc.html")),
        name="api-redoc",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("i18n/", include("django.conf.urls.i18n")),
    # Pages link their icon; a browser that asks on its own (an error page, a bookmark) gets the same one.
    path("favicon.ico", RedirectView.as_view(url=static("frontend/favicon.svg"), permanent=True)),
    # The OpenAI-compatible fine-tuning API (/v1/files, /v1/fine_tuning/jobs, DELETE /v1/models/{id}), then the model
    # server: /v1/models, /v1/chat/completions, and OpenAI's error for every other /v1/ path.
    path("v1/", include("finetuning.api.urls")),
    path("v1/", include("training.server.urls")),
    path("", include("frontend.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
