from django.urls import path

from releases.api import assist, views

urlpatterns = [
    path("scorecards/", views.ScorecardListCreateApi.as_view(), name="api-scorecard-list"),
    path("scorecards/<int:scorecard_id>/", views.ScorecardDetailApi.as_view(), name="api-scorecard-detail"),
    path("release-policy/<int:workspace_id>/", views.ReleasePolicyApi.as_view(), name="api-release-policy"),
    path("deployments/", views.DeploymentListCreateApi.as_view(), name="api-deployment-list"),
    path("deployments/<int:deployment_id>/", views.DeploymentDetailApi.as_view(), name="api-deployment-detail"),
    path("deployments/<int:deployment_id>/candidate/", views.DeploymentCandidateApi.as_view(),
         name="api-deployment-candidate"),
    path("deployments/<int:deployment_id>/promote/", views.DeploymentPromoteApi.as_view(),
         name="api-deployment-promote"),
    path("deployments/<int:deployment_id>/rollback/", views.DeploymentRollbackApi.as_view(),
         name="api-deployment-rollback"),
    path("deployments/<int:deployment_id>/assist/", assist.AssistDraftApi.as_view(), name="api-deployment-assist"),
    path("deployments/<int:deployment_id>/assist/support/", assist.AssistSupportApi.as_view(),
         name="api-deployment-assist-support"),
    path("assist-drafts/<int:draft_id>/pick/", assist.AssistPickApi.as_view(), name="api-assist-pick"),
]
