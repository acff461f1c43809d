"""Studies for product managers and result readers; blind voting for raters.

The same services and selectors as evaluation/api; forms play the input serializers' part. studies.py holds the
managers' pages, results.py the results, voting.py the raters' pages and quality.py gold and rater exclusion.
"""

from django.urls import path

from frontend.views.evaluation.quality import comparison_gold, rater_exclusion, study_gold
from frontend.views.evaluation.results import study_report_page
from frontend.views.evaluation.significance import study_significance
from frontend.views.evaluation.studies import (
    judge_add,
    study_detail,
    study_export,
    study_list,
    study_status,
    study_transition,
)
from frontend.views.evaluation.voting import vote, vote_home

app_name = "evaluation"


urlpatterns = [
    path("", study_list, name="study-list"),
    path("<int:study_id>/", study_detail, name="study-detail"),
    path("<int:study_id>/status/", study_status, name="study-status"),
    path("<int:study_id>/report/", study_report_page, name="study-report"),
    path("<int:study_id>/significance/", study_significance, name="study-significance"),
    path("<int:study_id>/export/", study_export, name="study-export"),
    path("<int:study_id>/judges/", judge_add, name="judge-add"),
    path("<int:study_id>/gold/", study_gold, name="study-gold"),
    path("<int:study_id>/gold/<int:comparison_id>/", comparison_gold, name="comparison-gold"),
    path("<int:study_id>/raters/<int:rater_id>/<slug:action>/", rater_exclusion, name="rater-exclusion"),
    path("<int:study_id>/<slug:action>/", study_transition, name="study-transition"),
    path("vote/", vote_home, name="vote-home"),
    path("vote/<int:study_id>/", vote, name="vote"),
]
