from django.urls import path

from annotation.api import ai_views, review_views, views

urlpatterns = [
    path("label-schemas/", views.LabelSchemaListApi.as_view(), name="api-label-schema-list"),
    path("annotation/projects/", views.ProjectListApi.as_view(), name="api-annotation-project-list"),
    path(
        "annotation/projects/<int:project_id>/", views.ProjectDetailApi.as_view(), name="api-annotation-project-detail"
    ),
    path(
        "annotation/projects/<int:project_id>/claim/",
        views.ProjectClaimApi.as_view(),
        name="api-annotation-project-claim",
    ),
    path(
        "annotation/projects/<int:project_id>/prefetch/",
        views.ProjectPrefetchApi.as_view(),
        name="api-annotation-project-prefetch",
    ),
    path(
        "annotation/assignments/<int:assignment_id>/heartbeat/",
        views.AssignmentHeartbeatApi.as_view(),
        name="api-annotation-assignment-heartbeat",
    ),
    path(
        "annotation/projects/<int:project_id>/layers/",
        review_views.ProjectLayersApi.as_view(),
        name="api-annotation-project-layers",
    ),
    path(
        "annotation/projects/<int:project_id>/reviews/claim/",
        review_views.ReviewClaimApi.as_view(),
        name="api-annotation-review-claim",
    ),
    path(
        "annotation/reviews/<int:review_id>/decide/",
        review_views.ReviewDecideApi.as_view(),
        name="api-annotation-review-decide",
    ),
    path(
        "annotation/projects/<int:project_id>/schema/",
        views.ProjectSchemaMoveApi.as_view(),
        name="api-annotation-project-schema-move",
    ),
    path(
        "annotation/projects/<int:project_id>/agreement/",
        views.ProjectAgreementApi.as_view(),
        name="api-annotation-project-agreement",
    ),
    path(
        "annotation/projects/<int:project_id>/export/",
        views.ProjectExportApi.as_view(),
        name="api-annotation-project-export",
    ),
    path(
        "annotation/assignments/<int:assignment_id>/submit/",
        views.AssignmentSubmitApi.as_view(),
        name="api-annotation-assignment-submit",
    ),
    path(
        "annotation/assignments/<int:assignment_id>/skip/",
        views.AssignmentSkipApi.as_view(),
        name="api-annotation-assignment-skip",
    ),
    path(
        "annotation/projects/<int:project_id>/ai-annotators/",
        ai_views.AIAnnotatorListApi.as_view(),
        name="api-annotation-ai-annotator-list",
    ),
    path(
        "annotation/ai-annotators/<int:ai_annotator_id>/runs/",
        ai_views.AIRunStartApi.as_view(),
        name="api-annotation-ai-run-start",
    ),
    path("annotation/ai-runs/<int:ai_run_id>/", ai_views.AIRunDetailApi.as_view(), name="api-annotation-ai-run-detail"),
]
