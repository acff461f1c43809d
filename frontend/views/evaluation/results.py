"""A study's results for result readers: the figures come as numbers from evaluation.selectors.StudyReport (the
same objects the API serialises) and the templates write them with the filters of frontend/templatetags/figures.py;
here only the charts' numbers and words are prepared."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _

from evaluation.access import access_study
from evaluation.selectors import study_arms, study_counts, study_report


def _chart_bar(name: str, summary) -> dict:
    return {
        "name": name,
        "rate": summary.support_rate * 100,
        "low": summary.interval_low * 100,
        "high": summary.interval_high * 100,
    }


def _chart_data(report) -> dict:
    """Numbers for the results charts (percent), with the chart's words translated here."""
    results = report.results
    candidates = [_chart_bar(r.candidate.name, r.summary) for r in results if r.summary.votes]
    labels = [_chart_bar(f"{r.candidate.name} · {label}" if len(results) > 1 else label, summary)
              for r in results for label, summary in r.labels.items()]
    # xgettext:no-python-format
    gold_accuracy = _("Gold accuracy (95% interval)")
    words = {
        "support_rate": _("Support rate (ties count half)"),
        "damaged": _("damaged"),
        "not_good_enough": _("not good enough"),
        "success": _("success"),
        "marked_improvement": _("marked improvement"),
        "rating": _("Bradley–Terry rating (Elo scale)"),
        "gold_accuracy": gold_accuracy,
        "consistency": _("Repeat consistency"),
        "threshold": _("Flag threshold"),
    }
    ranking = [{"name": r.model.name, "rating": r.rating, "low": r.low, "high": r.high} for r in report.ranking]
    raters = [{"name": r.username, "rate": r.gold_accuracy * 100, "low": r.gold_low * 100, "high": r.gold_high * 100,
               "consistency": None if r.consistency is None else r.consistency * 100}
              for r in report.raters if r.gold_accuracy is not None]
    return {"candidates": candidates, "labels": labels, "words": words, "ranking": ranking, "raters": raters,
            "threshold": report.study.gold_threshold * 100}


def results_context(study, arms, counts) -> dict:
    """The study's results (evaluation.selectors.StudyReport) and the numbers of its charts; the templates write the
    figures with the filters of frontend/templatetags/figures.py."""
    report = study_report(study=study, arms=arms, counts=counts)
    return {"report": report, "results": report.results, "chart_data": _chart_data(report)}


@login_required
def study_report_page(request, study_id: int):
    """The results on one printable page: setup, arms revealed, every figure and the charts (study.view_results)."""
    study = access_study(request.user, study_id, capabilities=("study.view_results",))
    arms, counts = study_arms(study=study), study_counts(study=study)
    context = {"study": study, "arms": arms, "counts": counts, **results_context(study, arms, counts)}
    return render(request, "frontend/evaluation/study_report.html", context)
