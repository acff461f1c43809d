from django.urls import path

from evaluation.api import views

urlpatterns = [
    path("studies/", views.StudyListCreateApi.as_view(), name="api-study-list"),
    path("studies/<int:study_id>/", views.StudyDetailApi.as_view(), name="api-study-detail"),
    path("studies/<int:study_id>/results/", views.StudyResultsApi.as_view(), name="api-study-results"),
    path("studies/<int:study_id>/next/", views.StudyNextComparisonApi.as_view(), name="api-study-next"),
    path("comparisons/<str:token>/vote/", views.VoteSubmitApi.as_view(), name="api-comparison-vote"),
]
