from django.urls import path

from training.api import exports, views

urlpatterns = [
    path("base-models/", views.BaseModelsApi.as_view(), name="api-base-models"),
    path("training/runs/", views.TrainingRunsApi.as_view(), name="api-training-runs"),
    path("training/runs/compare/", views.TrainingRunsCompareApi.as_view(), name="api-training-runs-compare"),
    path("training/runs/recommend/", views.TrainingRunRecommendApi.as_view(), name="api-training-run-recommend"),
    path("training/runs/preflight/", views.TrainingRunPreflightApi.as_view(), name="api-training-run-preflight"),
    path("training/runs/<int:run_id>/", views.TrainingRunDetailApi.as_view(), name="api-training-run"),
    path("training/runs/<int:run_id>/metrics/", views.TrainingRunMetricsApi.as_view(), name="api-training-run-metrics"),
    path("training/runs/<int:run_id>/cancel/", views.TrainingRunCancelApi.as_view(), name="api-training-run-cancel"),
    path("training/runs/<int:run_id>/retry/", views.TrainingRunRetryApi.as_view(), name="api-training-run-retry"),
    path(
        "model-artifacts/<int:artifact_id>/download/",
        views.ModelArtifactDownloadApi.as_view(),
        name="api-model-artifact-download",
    ),
    path(
        "model-artifacts/<int:artifact_id>/merge/",
        views.ModelArtifactMergeApi.as_view(),
        name="api-model-artifact-merge",
    ),
    path("model-artifacts/", views.ModelArtifactsApi.as_view(), name="api-model-artifacts"),
    path(
        "model-artifacts/<int:artifact_id>/exports/",
        exports.ModelExportsApi.as_view(),
        name="api-model-artifact-exports",
    ),
]
