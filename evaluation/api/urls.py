from django.urls import path

from evaluation.api import general_views, quality_views, rating_views, significance_views, views

urlpatterns = [
    path("studies/", views.StudyListCreateApi.as_view(), name="api-study-list"),
    path("studies/<int:study_id>/", views.StudyDetailApi.as_view(), name="api-study-detail"),
    path("studies/<int:study_id>/close/", views.StudyCloseApi.as_view(), name="api-study-close"),
    path("studies/<int:study_id>/retry/", views.StudyRetryApi.as_view(), name="api-study-retry"),
    path("studies/<int:study_id>/abandon/", views.StudyAbandonApi.as_view(), name="api-study-abandon"),
    path("studies/<int:study_id>/judges/", views.JudgeCreateApi.as_view(), name="api-study-judge-create"),
    path("studies/<int:study_id>/export/", views.StudyVotesExportApi.as_view(), name="api-study-export"),
    path("studies/<int:study_id>/results/", views.StudyResultsApi.as_view(), name="api-study-results"),
    path(
        "studies/<int:study_id>/comparisons/",
        quality_views.StudyComparisonListApi.as_view(),
        name="api-study-comparisons",
    ),
    path(
        "studies/<int:study_id>/comparisons/<int:comparison_id>/gold/",
        quality_views.ComparisonGoldApi.as_view(),
        name="api-comparison-gold",
    ),
    path("studies/<int:study_id>/gold/", quality_views.StudyGoldUploadApi.as_view(), name="api-study-gold-upload"),
    path(
        "studies/<int:study_id>/raters/<int:rater_id>/<slug:action>/",
        quality_views.RaterExcludeApi.as_view(),
        name="api-study-rater",
    ),
    path("studies/<int:study_id>/next/", views.StudyNextComparisonApi.as_view(), name="api-study-next"),
    path("general-evals/", general_views.GeneralEvalListCreateApi.as_view(), name="api-general-eval-list"),
    path(
        "general-evals/<int:general_eval_id>/",
        general_views.GeneralEvalDetailApi.as_view(),
        name="api-general-eval-detail",
    ),
    path("studies/<int:study_id>/significance/", significance_views.StudySignificanceApi.as_view(),
         name="api-study-significance"),
    path("studies/<int:study_id>/ratings/", rating_views.StudyRatingResultsApi.as_view(), name="api-study-ratings"),
    path("studies/<int:study_id>/next-rating/", rating_views.StudyNextRatingApi.as_view(),
         name="api-study-next-rating"),
    path("studies/<int:study_id>/rating-items/<int:item_id>/gold/", rating_views.RatingItemGoldApi.as_view(),
         name="api-rating-item-gold"),
    path("studies/<int:study_id>/rating-gold/", rating_views.StudyRatingGoldUploadApi.as_view(),
         name="api-study-rating-gold-upload"),
    path("rating-items/<str:token>/rate/", rating_views.RatingSubmitApi.as_view(), name="api-rating-item-rate"),
    path("comparisons/<str:token>/vote/", views.VoteSubmitApi.as_view(), name="api-comparison-vote"),
]
