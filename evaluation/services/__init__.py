"""Every state change of a study, comparison or vote. Import from here."""

from evaluation.services.generation import study_comparisons_build, study_generate
from evaluation.services.studies import study_create, study_fail, study_open
from evaluation.services.votes import vote_submit

__all__ = ["study_comparisons_build", "study_create", "study_fail", "study_generate", "study_open", "vote_submit"]
