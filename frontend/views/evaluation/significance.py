"""A study's significance page for result readers: each candidate against the baseline on the automatic metrics (paired
bootstrap, Holm), and, for a pairwise study, the support rate by the labels the prompts carry. Its own page, because
the 10,000 bootstrap rounds per figure are work the study page should not repeat on every load."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from evaluation.access import access_study
from evaluation.selectors import study_arms, study_vote_rows
from evaluation.significance import study_metric_comparisons, study_support_by_prompt_label


@login_required
def study_significance(request, study_id: int):
    study = access_study(request.user, study_id, capabilities=("study.view_results",))
    arms = study_arms(study=study)
    label_support = [] if study.kind == "rating" else study_support_by_prompt_label(
        study=study, arms=arms, rows=study_vote_rows(study=study))
    return render(request, "frontend/evaluation/study_significance.html", {
        "study": study, "metrics": study_metric_comparisons(study=study, arms=arms), "label_support": label_support})
