"""Every page, as every role, in real Chromium: none answers 500, logs a console error or fails a request (a static
asset's 404, a script that does not load, an htmx call the server refuses). A page a role may not open answers 403 or
404 (or sends to the login page), and that is all it does. The state is built with the real services."""

import pytest

from accounts.models import Role
from accounts.services import api_token_create

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROLES = [*Role.values, "outsider"]
ALLOWED_REFUSALS = {403, 404}


@pytest.fixture
def every_thing(
    users, workspace, write_file, import_path, annotation_project, tiny_artifact, open_study, tiny_endpoint
):
    """One of each thing a page shows, made by the services a person's clicks would call."""
    from annotation.models import AnnotationProject
    from annotation.services.queue import assignment_claim_next
    from annotation.tests.fixtures import submit_as
    from augmentation.services.runs import augmentation_run_create, augmentation_run_execute
    from datahub.services.datasets import dataset_create
    from datahub.services.versions import dataset_version_freeze
    from datahub.tests.fixtures import alpaca_rows
    from dedupe.services import dedupe_run_create, dedupe_run_execute
    from feedback.services import feedback_events_ingest, feedback_source_create
    from training.services.execution import metric_points_ingest

    dataset = dataset_create(workspace=workspace, name="Every page")
    import_path(dataset, write_file("rows.jsonl", alpaca_rows(12)), created_by=users["ml_engineer"])
    version = dataset_version_freeze(dataset=dataset, created_by=users["ml_engineer"])
    dedupe = dedupe_run_create(dataset=dataset, created_by=users["ml_engineer"], use_near=False, use_semantic=False,
                               run_in_background=False)
    augmentation = augmentation_run_create(
        version=version, methods=["eda"], options={"limit": 2}, created_by=users["ml_engineer"], run_in_background=False
    )
    dedupe = dedupe_run_execute(run=dedupe)
    augmentation = augmentation_run_execute(run=augmentation)

    AnnotationProject.objects.filter(pk=annotation_project.pk).update(review_rate=1.0, spot_check_rate=1.0)
    assignment = assignment_claim_next(project=annotation_project, annotator=users["staff_annotator"])
    submit_as(users["staff_annotator"], assignment, "billing/refund")

    run = tiny_artifact.run
    metric_points_ingest(
        run=run,
        rows=[
            {"step": step, "epoch": step / 4, "values": {"loss": 3 - step / 4, "learning_rate": 1e-4 / step}}
            for step in (1, 2, 3, 4)
        ],
    )

    source = feedback_source_create(workspace=workspace, name="Shop web", created_by=users["ml_engineer"])
    feedback_events_ingest(
        source=source,
        events=[
            {
                "idempotency_key": "every-page-1",
                "kind": "like",
                "messages": [{"role": "user", "content": "Where is my parcel?"}],
                "responses": [{"text": "It ships today.", "model": "support-faq-lora"}],
            }
        ],
    )
    from finetuning.services.files import fine_tuning_file_create
    from finetuning.services.jobs import fine_tuning_job_create
    from finetuning.tests.fixtures import support_rows, training_lines

    training_file = fine_tuning_file_create(
        workspace=workspace,
        filename="train.jsonl",
        data=training_lines(support_rows(4)),
        created_by=users["ml_engineer"],
    )
    job = fine_tuning_job_create(
        workspace=workspace,
        model=run.base_model.name,
        training_file=training_file,
        suffix="pages",
        created_by=users["ml_engineer"],
    )
    from evaluation.services.general_eval import general_eval_create, general_eval_run

    check = general_eval_create(
        workspace=workspace,
        name="General check",
        baseline=run.base_model,
        candidate=tiny_artifact,
        shots=1,
        test_uploads=[("toys_test.csv", b"Q1,a,b,c,d,A\nQ2,a,b,c,d,B\n")],
        dev_uploads=[("toys_dev.csv", b"D1,a,b,c,d,C\n")],
    )
    general_eval_run(general_eval=check)
    for role in ROLES:
        api_token_create(user=users[role], name="script")
    return {
        "job": job,
        "general_eval": check,
        "dataset": dataset,
        "version": version,
        "dedupe": dedupe,
        "augmentation": augmentation,
        "project": annotation_project,
        "run": run,
        "artifact": tiny_artifact,
        "study": open_study,
        "endpoint": tiny_endpoint,
    }


def pages(thing) -> list[str]:
    dataset, version, project, study, run = (
        thing["dataset"],
        thing["version"],
        thing["project"],
        thing["study"],
        thing["run"],
    )
    return [
        "/",
        "/account/tokens/",
        "/api/v1/docs/",
        "/api/v1/redoc/",
        "/data/",
        "/data/sources/",
        f"/data/datasets/{dataset.pk}/",
        f"/data/versions/{version.pk}/",
        f"/data/versions/{version.pk}/card/",
        f"/dedupe/datasets/{dataset.pk}/",
        f"/dedupe/runs/{thing['dedupe'].pk}/",
        f"/augment/datasets/{dataset.pk}/",
        f"/augment/versions/{version.pk}/new/",
        f"/augment/runs/{thing['augmentation'].pk}/",
        f"/augment/runs/{thing['augmentation'].pk}/review/",
        f"/augment/datasets/{dataset.pk}/mix/",
        "/annotate/",
        f"/annotate/projects/{project.pk}/",
        f"/annotate/projects/{project.pk}/work/",
        f"/annotate/projects/{project.pk}/dashboard/",
        f"/annotate/projects/{project.pk}/review/review/",
        f"/annotate/projects/{project.pk}/review/spot_check/",
        f"/annotate/projects/{project.pk}/ai/",
        "/feedback/",
        "/feedback/workbench/",
        "/training/",
        "/training/runs/new/",
        f"/training/runs/{run.pk}/",
        f"/training/runs/{run.pk}/retry/",
        f"/training/base-models/{run.base_model_id}/",
        f"/training/runs/compare/?runs={run.pk}",
        f"/training/artifacts/{thing['artifact'].pk}/",
        "/fine-tuning/new/",
        f"/fine-tuning/{thing['job'].public_id}/",
        "/studies/",
        f"/studies/{study.pk}/",
        f"/studies/{study.pk}/report/",
        f"/studies/{study.pk}/gold/",
        "/studies/vote/",
        f"/studies/vote/{study.pk}/",
        "/general-checks/",
        f"/general-checks/{thing['general_eval'].pk}/",
        "/endpoints/",
        "/endpoints/new/",
        f"/endpoints/{thing['endpoint'].pk}/edit/",
    ]


def visit_all(
    browser, live_server, username: str, paths: list[str], *, locale: str = "en-US", width: int = 1280
) -> list[str]:
    """Visit `paths` logged in as `username`; return every problem seen, as text."""
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(30_000)
    seen: list[tuple[str, str, str]] = []  # (kind, url, text) of the page being visited

    def on_response(response):
        if response.status >= 400:
            seen.append(("response", response.url, f"{response.status} {response.url}"))

    def on_console(message):
        if message.type == "error":
            url = message.location.get("url", "")
            seen.append(("console", url, f"console: {message.text} ({url})"))

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.append(("script", "", f"script error: {error}")))
    # A request the next navigation cuts short (net::ERR_ABORTED) did not fail; any other failure did.
    page.on("requestfailed", lambda request: None if "ERR_ABORTED" in (request.failure or "") else seen.append(
        ("failed", request.url, f"request failed: {request.url} {request.failure}")))
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    if locale.startswith("zh"):
        context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": live_server.url}])
    problems: list[str] = []
    for path in paths:
        seen.clear()
        url = f"{live_server.url}{path}"
        response = page.goto(url, wait_until="load")
        status = response.status if response else 0
        if status >= 400 and status not in ALLOWED_REFUSALS or not response:
            problems.append(f"{username} {path}: answered {status}")
        page.wait_for_timeout(150)  # a script that runs on load (charts, htmx's first request) gets to run
        for kind, where, text in seen:
            # A page this role may not open is reported by the browser as a failed resource: that one is expected.
            if status in ALLOWED_REFUSALS and kind in ("response", "console") and where.split("#")[0] == url:
                continue
            problems.append(f"{username} {path}: {text}")
    context.close()
    return problems


def test_every_page_as_every_role_loads_without_an_error(browser, live_server, users, every_thing):
    paths = pages(every_thing)
    problems = []
    for username in ROLES:
        problems += visit_all(browser, live_server, username, paths)
    # The Chinese templates render too (a translation with a wrong placeholder would be a 500), at a phone's width.
    problems += visit_all(browser, live_server, "admin", paths, locale="zh-CN", width=390)
    assert not problems, "\n".join(problems)
