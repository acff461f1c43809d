from django.urls import path

from dedupe.api import views

urlpatterns = [
    path("datasets/<int:dataset_id>/dedupe-runs/", views.DedupeRunsApi.as_view(), name="api-dedupe-runs"),
    path("dedupe-runs/<int:run_id>/", views.DedupeRunDetailApi.as_view(), name="api-dedupe-run"),
    path("dedupe-runs/<int:run_id>/pairs/", views.DedupeRunPairsApi.as_view(), name="api-dedupe-run-pairs"),
    path("dedupe-runs/<int:run_id>/clusters/", views.DedupeRunClustersApi.as_view(), name="api-dedupe-run-clusters"),
    path("dedupe-runs/<int:run_id>/apply/", views.DedupeRunApplyApi.as_view(), name="api-dedupe-run-apply"),
    path(
        "dedupe-decisions/<int:decision_id>/override/",
        views.DedupeDecisionOverrideApi.as_view(),
        name="api-dedupe-decision-override",
    ),
]
