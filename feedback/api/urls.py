from django.urls import path

from feedback.api import views

urlpatterns = [
    path("feedback/events", views.FeedbackEventsApi.as_view(), name="api-feedback-events"),
    path("feedback/events/", views.FeedbackEventsSlashApi.as_view()),
    path("feedback/sources/", views.FeedbackSourcesApi.as_view(), name="api-feedback-source-list"),
    path(
        "feedback/sources/<int:source_id>/settings/",
        views.FeedbackSourceSettingsApi.as_view(),
        name="api-feedback-source-settings",
    ),
    path(
        "feedback/sources/<int:source_id>/tokens/",
        views.FeedbackTokenCreateApi.as_view(),
        name="api-feedback-token-create",
    ),
    path(
        "feedback/tokens/<int:token_id>/revoke/",
        views.FeedbackTokenRevokeApi.as_view(),
        name="api-feedback-token-revoke",
    ),
    path("feedback/datasets/", views.FeedbackDatasetBuildApi.as_view(), name="api-feedback-dataset-build"),
    path("feedback/support-rates/", views.FeedbackSupportRatesApi.as_view(), name="api-feedback-support-rates"),
]
