"""`manage.py demo --no-serve` is a contract: it runs the whole loop on the project's own demo data and exits."""

import json
import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Membership, Workspace
from annotation.models import Annotation, AnnotationProject, AnnotationTask, Review
from common.simulation import CLOSER_TO_REFERENCE, closer_to_reference, liked_by_reference, picked_by_reference
from datahub.models import DatasetVersion, Record
from demo.base_model import PRETRAIN_CONVERSATIONS, demo_base_model_build
from demo.loop import SIMULATED_RATER, _references
from evaluation.models import Answer, Comparison, GeneralEval, Study, StudyPrompt, Vote
from evaluation.selectors import study_report
from feedback.models import FeedbackEvent, FeedbackSource
from llm.client import chat_complete
from llm.models import ModelEndpoint
from llm.services.endpoints import model_endpoint_test
from releases.models import Deployment, Scorecard
from training.models import BaseModel, ModelArtifact, TrainingRun

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


# Reduced settings for tests: the real code path (pretraining, cache, SFT, study, rule, endpoints) at a fraction of
# `make demo`'s steps; the demo's own figures come from running it (README).
PRETRAIN_STEPS = 40
TRAIN_STEPS = 15


@pytest.fixture
def demo_env(settings, monkeypatch, tmp_path):
    """The demo's cache under this test's own var/, and the settings and environment it changes restored afterwards."""
    settings.VAR_DIR = tmp_path / "var"
    for name in ("WHETSTONE_OUTBOUND_PRIVATE_ALLOWED", "WHETSTONE_MODEL_ROOTS"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    settings.OUTBOUND_PRIVATE_ALLOWED = list(settings.OUTBOUND_PRIVATE_ALLOWED)
    settings.MODEL_ROOTS = list(settings.MODEL_ROOTS)
    return tmp_path


def test_demo_runs_the_loop_and_prints_a_login_per_role(demo_env, live_server):
    addr = live_server.url.removeprefix("http://")
    out = StringIO()
    call_command("demo", no_serve=True, addr=addr, train_steps=TRAIN_STEPS, pretrain_steps=PRETRAIN_STEPS, stdout=out)
    printed = out.getvalue()

    assert Record.objects.filter(origin="import", dataset__name="support-faq").count() == 128
    assert list(
        DatasetVersion.objects.filter(dataset__name="support-faq").order_by("number").values_list("number", "operation")
    ) == [(1, "dedupe"), (2, "annotation_export")]
    # Two annotators on the same six items, a third of them re-checked: agreement and review have something to show.
    project = AnnotationProject.objects.get(name="Topic labels")
    assert (project.overlap, project.review_rate) == (2, 0.34)
    assert Annotation.objects.filter(task__project=project).count() == 12
    assert AnnotationTask.objects.filter(project=project, annotations__isnull=False).distinct().count() == 6
    assert Review.objects.filter(task__project=project).exists()
    # Reply drafts: five questions with three drafts each, ranked by two annotators, exported as preference pairs.
    pairs = DatasetVersion.objects.get(dataset__name="reply-drafts", operation="annotation_export")
    assert (pairs.operation_detail["ranked"], pairs.operation_detail["pairs"]) == (5, 14)
    assert "with 14 preference pairs for DPO" in printed

    # The base model: pretrained on everyday conversation, kept in var/cache/ under its recipe's key, copied in.
    base_model = BaseModel.objects.get()
    cached = list((demo_env / "var" / "cache" / "demo-base-model").iterdir())
    assert [c.name for c in cached if not c.name.startswith(".")] == [
        json.loads((cached[0] / "whetstone-demo.json").read_text())["key"]
    ]
    assert json.loads((cached[0] / "whetstone-demo.json").read_text())["steps"] == PRETRAIN_STEPS
    assert (base_model.name, base_model.parameter_count) == ("tiny-chat", _parameters(cached[0]))
    assert f"pretraining the tiny base model on {PRETRAIN_CONVERSATIONS} everyday conversations" in printed

    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.metric_points.exists()
    assert run.hyperparameters["assistant_only_loss"] is True
    assert "trained support-faq-tuned on the replies only:" in printed
    assert ModelArtifact.objects.get().run == run

    # The study: every comparison voted once by the simulated rater, each vote what the rule says about the two answers.
    study = Study.objects.get()
    assert study.status == "open"
    comparisons = list(
        Comparison.objects.filter(study=study, is_identical=False).select_related("left_answer", "right_answer")
    )
    votes = list(Vote.objects.filter(comparison__study=study).select_related("rater"))
    assert len(votes) == len(comparisons) > 0
    assert {(v.rater.username, v.simulated_by) for v in votes} == {(SIMULATED_RATER, CLOSER_TO_REFERENCE)}
    references = _references(study)
    for vote in votes:
        comparison = vote.comparison
        expected = closer_to_reference(reference=references[comparison.prompt_id], first=comparison.left_answer.text,
                                       second=comparison.right_answer.text)
        assert vote.choice == {"first": "left", "second": "right", "tie": "tie"}[expected]
    report = study_report(study=study)
    [result] = report.results
    assert f"support rate support-faq-tuned {result.summary.support_rate:.0%}" in printed
    assert [(row["rule"], row["votes"]) for row in report.simulated_votes] == [(CLOSER_TO_REFERENCE, len(votes))]

    # The shop's feedback: simulated, and each like, dislike and pick is the rule's verdict on the models' real answers.
    source = FeedbackSource.objects.get(name="Lumen shop app (demo)")
    assert source.simulated_by == CLOSER_TO_REFERENCE
    events = list(FeedbackEvent.objects.filter(source=source))
    # 24 events, but only on questions both models answered with some text (a barely trained model may answer nothing).
    assert len(events) > 0 and f"the demo shop app sent {len(events)} simulated feedback events" in printed
    assert len(events) == 24 or len(events) < 24 and "" in answers_texts(study)
    answers = {
        (a.prompt.messages[-1]["content"], a.arm.name): a.text
        for a in Answer.objects.filter(prompt__study=study, arm__isnull=False).select_related("prompt", "arm")
    }
    reference_of = {StudyPrompt.objects.get(pk=pk).messages[-1]["content"]: text for pk, text in references.items()}
    for event in events:
        question = event.messages[-1]["content"]
        for response in event.responses:
            assert answers[(question, response["model"])] == response["text"]
        if event.kind == "choice":
            assert event.chosen_index == picked_by_reference(
                reference=reference_of[question], answers=[r["text"] for r in event.responses]
            )
        else:
            assert (event.kind == "like") == liked_by_reference(
                reference=reference_of[question], answer=event.responses[0]["text"]
            )

    # The built-in model server as two endpoints, base and fine-tune, reachable and answering.
    endpoints = {e.model: e for e in ModelEndpoint.objects.all()}
    assert set(endpoints) == {f"{study.workspace_id}/tiny-chat", f"{study.workspace_id}/artifacts/{run.artifact.pk}"}
    for model, endpoint in endpoints.items():
        assert endpoint.base_url == f"http://127.0.0.1:{addr.rsplit(':', 1)[1]}/v1"
        tested = model_endpoint_test(endpoint=endpoint)
        assert tested["ok"] and model in tested["models"], tested
        reply = chat_complete(endpoint=endpoint, messages=[{"role": "user", "content": "Hello!"}], max_tokens=8)
        # The test's models train for a few steps only: what they say may be spaces, but they say something.
        assert reply.usage["completion_tokens"] > 0 and reply.text

    # The release decision is staged, never taken: a general check, a scorecard, the fine-tune a candidate on a slot.
    check = GeneralEval.objects.get()
    assert (check.status, check.candidate_artifact_id) == ("done", run.artifact.pk), check.error
    scorecard = Scorecard.objects.get()
    assert (scorecard.status, scorecard.artifact_id) == ("done", run.artifact.pk), scorecard.error
    assert {d["key"] for d in scorecard.dimensions} == {"task", "general", "speed", "resources", "deployability"}
    slot = Deployment.objects.get()
    assert (slot.name, slot.production_base_model_id, slot.candidate_artifact_id) == (
        "support-bot", base_model.pk, run.artifact.pk)
    assert "slot 'support-bot' answers with the base model" in printed and "the release gate" in printed

    assert Membership.objects.count() == 8
    for username in ("admin", "ml", "pm", "reviewer", "expert", "staff", "crowd"):
        assert f"user {username:<10} password demo-{username}" in printed
    assert SIMULATED_RATER not in printed.split("log in as:")[1]
    assert f"http://{addr}/" in printed

    again = StringIO()
    call_command("demo", no_serve=True, addr=addr, stdout=again)
    assert "already loaded" in again.getvalue()
    assert TrainingRun.objects.count() == 1


def answers_texts(study) -> list[str]:
    return [
        text.strip()
        for text in Answer.objects.filter(prompt__study=study, arm__isnull=False).values_list("text", flat=True)
    ]


def _parameters(directory) -> int:
    from safetensors import safe_open

    with safe_open(str(directory / "model.safetensors"), framework="pt") as weights:
        total = 0
        for key in weights.keys():
            count = 1
            for size in weights.get_slice(key).get_shape():
                count *= size
            total += count
    return total


def test_the_pretrained_base_model_is_built_once_and_reused_by_its_recipe(demo_env):
    said = []
    first, reused = demo_base_model_build(steps=3, say=said.append)
    assert not reused and (first / "config.json").is_file()
    assert any("pretraining step 3/3" in line for line in said)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    said.clear()
    again, reused = demo_base_model_build(steps=3, say=said.append)
    assert (again, reused, said) == (first, True, [])
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    # Another recipe (here: more steps) is another model, beside the first.
    other, reused = demo_base_model_build(steps=4, say=said.append)
    assert other != first and not reused
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, other.name])


def test_make_demo_model_runs_the_loop_on_a_real_model_directory(demo_env, real_model_dirs, settings):
    """`make demo MODEL=...`: a small random model with Qwen2.5's real tokenizer and template, outside every model root
    and the store; the demo allows its directory for itself and runs the same loop on it, pretraining nothing."""
    model_dir = real_model_dirs("qwen2.5-7b-instruct")
    settings.MODEL_ROOTS = []  # no operator root covers it: only the demo's own allowance does
    out = StringIO()
    call_command("demo", no_serve=True, model=model_dir, train_steps=2, stdout=out)
    printed = out.getvalue()
    base_model = BaseModel.objects.get()
    assert (base_model.name, base_model.path, base_model.architecture) == (
        model_dir.name,
        str(model_dir),
        "Qwen2ForCausalLM",
    )
    assert "pretraining" not in printed
    assert not (demo_env / "var" / "cache").exists()
    assert settings.MODEL_ROOTS[-1] == model_dir and os.environ["WHETSTONE_MODEL_ROOTS"].endswith(str(model_dir))
    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.base_model == base_model
    assert (
        Vote.objects.filter(simulated_by=CLOSER_TO_REFERENCE).count()
        == Comparison.objects.filter(is_identical=False).count()
        > 0
    )
    assert ModelEndpoint.objects.filter(model=f"{base_model.workspace_id}/{base_model.name}").exists()


def test_make_demo_refuses_a_model_path_that_is_no_model(demo_env, tmp_path):
    with pytest.raises(CommandError, match="--model: .* is not a model directory"):
        call_command("demo", no_serve=True, model=tmp_path)
    assert not Workspace.objects.exists()


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_stopping_the_served_demo_stops_its_worker_too(signum, settings, tmp_path):
    """`make demo` serves and runs a worker; a SIGTERM (or Ctrl-C) to it ends both."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    import psutil
    from django.db import connection

    from accounts.services import workspace_create
    from demo.loop import DEMO_WORKSPACE

    if connection.vendor != "postgresql":
        pytest.skip("the served demo must reach the test database from another process: PostgreSQL only")
    workspace_create(name=DEMO_WORKSPACE)  # already loaded: the command goes straight to serving
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "WHETSTONE_STORAGE": str(tmp_path)}
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    demo = subprocess.Popen([sys.executable, str(manage), "demo", "--addr", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
                break
            except OSError:
                assert demo.poll() is None and time.monotonic() < deadline, "the demo did not start serving"
                time.sleep(0.5)
        workers = psutil.Process(demo.pid).children(recursive=True)
        assert any("db_worker" in " ".join(child.cmdline()) for child in workers)
        demo.send_signal(getattr(signal, signum))
        assert demo.wait(timeout=30) != -9
        gone, alive = psutil.wait_procs(workers, timeout=15)
        assert alive == []
    finally:
        if demo.poll() is None:
            demo.kill()
