from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("datahub.api.urls")),
    path("", include("datahub.dedupe.api.urls")),
    path("", include("datahub.augmentation.api.urls")),
    path("", include("annotation.api.urls")),
    path("", include("annotation.feedback.api.urls")),
    path("", include("training.api.urls")),
    path("", include("evaluation.api.urls")),
    path("", include("llm.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("i18n/", include("django.conf.urls.i18n")),
    # The OpenAI-compatible model server: /v1/models, /v1/chat/completions.
    path("v1/", include("training.server.urls")),
    path("", include("frontend.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
