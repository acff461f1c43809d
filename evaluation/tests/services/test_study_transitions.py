"""Closing an open study; retrying a failed or stale one; marking a stale one failed."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from common.errors import ApplicationError
from common.models import HistoryEvent
from evaluation.models import Study
from evaluation.services import (
    showing_serve,
    study_abandon,
    study_close,
    study_fail,
    study_is_stale,
    study_retry,
    vote_submit,
)
from evaluation.services.studies import STALE_AFTER


def _age(study: Study, by: timedelta) -> Study:
    # What a worker that died mid-generation leaves behind: a generating row nobody has touched since.
    Study.objects.filter(pk=study.pk).update(updated_at=timezone.now() - by)
    study.refresh_from_db()
    return study


def _refused(service, study, message, code, **kwargs):
    before = Study.objects.values("status", "error", "progress").get(pk=study.pk)
    with pytest.raises(ApplicationError) as error:
        service(study=study, actor=None, **kwargs)
    assert (error.value.message, error.value.code) == (message, code)
    assert Study.objects.values("status", "error", "progress").get(pk=study.pk) == before


def test_a_fresh_generating_study_is_neither_stale_nor_retryable(make_study):
    study = make_study()
    assert not study_is_stale(study=study)
    _refused(
        study_retry,
        study,
        "only a failed study, or one generating without progress for 30 minutes, can be retried; "
        "this one is generating",
        "not_retryable",
    )
    _refused(
        study_abandon,
        study,
        "only a study generating without progress for 30 minutes can be marked failed",
        "not_stale",
    )


def test_a_stale_study_can_be_retried_and_the_job_is_queued_again(
    make_study, users, django_capture_on_commit_callbacks
):
    study = _age(make_study(), STALE_AFTER + timedelta(seconds=1))
    assert study_is_stale(study=study)
    with django_capture_on_commit_callbacks(execute=True):
        study = study_retry(study=study, actor=users["product_manager"])
    assert (study.status, study_is_stale(study=study)) == ("generating", False)
    assert DBTaskResult.objects.filter(task_path="evaluation.tasks.study_generate_task").count() == 2
    event = HistoryEvent.objects.filter(target_type="evaluation.study", target_id=study.pk).latest("pk")
    assert (event.verb, event.actor, event.before, event.after) == (
        "retried", users["product_manager"], {"status": "generating"}, {"status": "generating"})


def test_a_stale_study_can_be_marked_failed_then_retried_from_scratch(
    make_study, users, django_capture_on_commit_callbacks
):
    study = _age(make_study(), STALE_AFTER * 2)
    study = study_abandon(study=study, actor=users["product_manager"])
    assert (study.status, study.error) == (
        "failed",
        "generation stopped making progress (the worker was probably restarted)",
    )
    event = HistoryEvent.objects.filter(target_type="evaluation.study", target_id=study.pk).latest("pk")
    assert (event.verb, event.actor) == ("failed", users["product_manager"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        study = study_retry(study=study, actor=users["product_manager"])
    assert (study.status, study.error, study.progress, len(callbacks)) == ("generating", "", 0.0, 1)


def test_only_an_open_study_closes(make_study):
    study = study_fail(study=make_study(), reason="boom")
    _refused(study_close, study, "only an open study can be closed; this one is failed", "not_open")


def test_a_closed_study_takes_no_more_votes_and_keeps_its_results(open_study, users):
    rater = users["crowd_annotator"]
    comparison = showing_serve(study=open_study, rater=rater).comparison
    vote_submit(comparison=comparison, rater=rater, choice="tie")
    study = study_close(study=open_study, actor=users["product_manager"])
    assert study.status == "closed"
    assert showing_serve(study=study, rater=rater) is None
    second = study.comparisons.exclude(pk=comparison.pk).first()
    with pytest.raises(ApplicationError) as error:
        vote_submit(comparison=second, rater=users["staff_annotator"], choice="tie")
    assert error.value.code == "not_open"
    _refused(study_close, study, "only an open study can be closed; this one is closed", "not_open")
    assert study.comparisons.get(pk=comparison.pk).votes.count() == 1
