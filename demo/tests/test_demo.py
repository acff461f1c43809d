"""`manage.py demo --no-serve` is a contract: it runs the whole loop on the project's own demo data and exits."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Membership
from annotation.feedback.models import FeedbackEvent
from annotation.feedback.selectors import feedback_support_rates
from annotation.models import Annotation
from datahub.models import DatasetVersion, Record
from evaluation.models import Study, Vote
from training.models import ModelArtifact, TrainingRun

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_demo_runs_the_loop_and_prints_a_login_per_role():
    out = StringIO()
    call_command("demo", no_serve=True, train_steps=3, stdout=out)
    printed = out.getvalue()

    assert Record.objects.filter(origin="import", dataset__name="support-faq").count() == 64
    assert list(DatasetVersion.objects.filter(dataset__name="support-faq").order_by("number").values_list("number", "operation")) == [
        (1, "dedupe"), (2, "annotation_export")]
    assert Annotation.objects.filter(task__project__name="Topic labels").count() == 12
    # Reply drafts: five questions with three drafts each, ranked by two annotators, exported as preference pairs.
    pairs = DatasetVersion.objects.get(dataset__name="reply-drafts", operation="annotation_export")
    assert (pairs.operation_detail["ranked"], pairs.operation_detail["pairs"]) == (5, 14)
    assert set(pairs.entries.values_list("record__kind", flat=True)) == {"preference"}
    assert "with 14 preference pairs for DPO" in printed
    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.metric_points.exists()
    # The defaults: the fine-tune learns the replies, not the questions and the system prompt.
    assert run.hyperparameters["assistant_only_loss"] is True
    assert "trained support-faq-lora on the replies only:" in printed
    assert ModelArtifact.objects.get().run == run
    assert Study.objects.get().status == "open"
    assert Vote.objects.exists()
    assert FeedbackEvent.objects.count() == 24
    assert feedback_support_rates(workspace=Study.objects.get().workspace)[0].model == "support-faq-lora"
    assert Membership.objects.count() == 7
    for username in ("admin", "ml", "pm", "reviewer", "expert", "staff", "crowd"):
        assert f"user {username:<10} password demo-{username}" in printed
    assert "http://127.0.0.1:8000/" in printed

    again = StringIO()
    call_command("demo", no_serve=True, stdout=again)
    assert "already loaded" in again.getvalue()
    assert TrainingRun.objects.count() == 1
