"""`manage.py demo --no-serve` is a contract: it runs the whole loop on the project's own demo data and exits."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Membership
from annotation.models import Annotation
from datahub.models import DatasetVersion, Record
from evaluation.models import Study, Vote
from feedback.models import FeedbackEvent
from feedback.selectors import feedback_support_rates
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
