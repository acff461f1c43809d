from django.urls import path

from augmentation.api import views

urlpatterns = [
    path(
        "versions/<int:version_id>/augmentations/",
        views.VersionAugmentationsApi.as_view(),
        name="api-version-augmentations",
    ),
    path(
        "datasets/<int:dataset_id>/augmentations/",
        views.DatasetAugmentationsApi.as_view(),
        name="api-dataset-augmentations",
    ),
    path("augmentations/<int:run_id>/", views.AugmentationRunApi.as_view(), name="api-augmentation"),
    path("augmentations/<int:run_id>/retry/", views.AugmentationRunRetryApi.as_view(), name="api-augmentation-retry"),
    path("augmentations/<int:run_id>/candidates/", views.CandidatesApi.as_view(), name="api-augmentation-candidates"),
    path(
        "augmentations/<int:run_id>/decisions/",
        views.CandidateDecisionsApi.as_view(),
        name="api-augmentation-decisions",
    ),
    path("augmentations/<int:run_id>/accept/", views.AugmentationAcceptApi.as_view(), name="api-augmentation-accept"),
    path("datasets/<int:dataset_id>/mixes/", views.DatasetMixesApi.as_view(), name="api-dataset-mixes"),
    path("mixes/<int:run_id>/", views.MixRunApi.as_view(), name="api-mix"),
    path("sources/<int:source_id>/gradings/", views.SourceGradingsApi.as_view(), name="api-source-gradings"),
    path("sources/<int:source_id>/quality/", views.SourceQualityApi.as_view(), name="api-source-quality"),
    path("sources/<int:source_id>/tier/", views.SourceTierApi.as_view(), name="api-source-tier"),
    path("gradings/<int:run_id>/", views.GradingRunApi.as_view(), name="api-grading"),
    path("synonym-tables/", views.SynonymTablesApi.as_view(), name="api-synonym-tables"),
]
