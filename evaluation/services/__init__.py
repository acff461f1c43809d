"""Every state change of a study, comparison or vote. Import from here."""

from evaluation.services.export import study_votes_export
from evaluation.services.generation import study_comparisons_build, study_generate
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
from evaluation.services.votes import vote_submit

__all__ = ["judge_create", "judge_run", "study_abandon", "study_close", "study_comparisons_build", "study_create", "study_fail", "study_generate",
           "study_is_stale", "study_open", "study_retry", "study_votes_export", "vote_submit"]
