from django.urls import path

from llm.api import views

urlpatterns = [
    path("model-endpoints/", views.ModelEndpointsApi.as_view(), name="api-model-endpoints"),
    path("model-endpoints/<int:endpoint_id>/", views.ModelEndpointDetailApi.as_view(), name="api-model-endpoint"),
    path(
        "model-endpoints/<int:endpoint_id>/test/", views.ModelEndpointTestApi.as_view(), name="api-model-endpoint-test"
    ),
]
