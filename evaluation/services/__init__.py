"""Every state change of a study, comparison or vote. Import from here."""

from evaluation.services.export import study_votes_export
from evaluation.services.generation import study_answers_record, study_comparisons_build, study_generate
from evaluation.services.judges import judge_create, judge_run
from evaluation.services.studies import (
    study_abandon,
    study_close,
    study_create,
    study_fail,
    study_is_stale,
    study_open,
    study_retry,
)
from evaluation.services.quality import (
    comparison_gold_set,
    gold_parse_jsonl,
    study_gold_upload,
    study_rater_exclude,
    study_rater_include,
)
from evaluation.services.ratings import (
    rating_item_gold_set,
    rating_item_show,
    rating_serve,
    rating_submit,
    study_rating_gold_upload,
)
from evaluation.services.showings import comparison_show, showing_serve
from evaluation.services.votes import vote_submit

__all__ = [
    "comparison_gold_set", "rating_item_gold_set", "rating_item_show", "rating_serve", "rating_submit",
    "study_rating_gold_upload", "comparison_show", "gold_parse_jsonl", "judge_create", "judge_run", "showing_serve",
    "study_abandon", "study_answers_record", "study_close", "study_comparisons_build", "study_create", "study_fail",
    "study_generate", "study_gold_upload", "study_is_stale", "study_open", "study_rater_exclude",
    "study_rater_include", "study_retry", "study_votes_export", "vote_submit",
]
