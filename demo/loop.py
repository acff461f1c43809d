"""The demo workspace and one pass of the whole loop, through the same services every user goes through.

import → dedupe (exact, near-duplicate, semantic; applied as v1) → label → export → SFT on the tiny model → blind study with
votes → a week of production feedback from a demo shop app; beside it, reply drafts ranked by two annotators and exported
as DPO preference pairs.
"""

import json
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from accounts.services import membership_set, user_create, workspace_create
from annotation.models import Label
from annotation.services.annotations import annotation_submit
from annotation.services.export import annotation_project_export
from annotation.services.label_schemas import label_schema_create
from annotation.services.projects import annotation_project_create
from annotation.services.queue import assignment_claim_next
from datahub.models import VersionRecord
from datahub.services.datasets import dataset_create, source_create
from datahub.services.imports import import_job_create, import_job_run
from datahub.services.versions import dataset_version_freeze
from dedupe.services import dedupe_run_apply, dedupe_run_create, dedupe_run_execute
from evaluation.selectors import study_report
from evaluation.services.showings import showing_serve
from evaluation.services.studies import study_create
from evaluation.services.votes import vote_submit
from feedback.services import feedback_events_ingest, feedback_source_create
from training.models import BaseModel, TrainingRun
from training.services.runs import training_run_create

DEMO_WORKSPACE = "Lumen Home support"
DEMO_DATA = Path(__file__).resolve().parent / "data" / "customer_service.jsonl"
# Three reply drafts per customer question, written best first.
DEMO_DRAFTS = Path(__file__).resolve().parent / "data" / "answer_sets.jsonl"
DEMO_PEOPLE = [
    ("admin", Role.ADMIN),
    ("ml", Role.ML_ENGINEER),
    ("pm", Role.PRODUCT_MANAGER),
    ("reviewer", Role.REVIEWER),
    ("expert", Role.EXPERT_ANNOTATOR),
    ("staff", Role.STAFF_ANNOTATOR),
    ("crowd", Role.CROWD_ANNOTATOR),
]
DEMO_LABELS = [
    {"name": "billing", "description": "Money: refunds, invoices, charges", "children": [
        {"name": "refund"}, {"name": "invoice"}, {"name": "charge"}]},
    {"name": "account", "description": "Signing in and managing the account", "children": [
        {"name": "login"}, {"name": "password"}, {"name": "delete"}]},
    {"name": "shipping", "description": "Getting the parcel there", "children": [{"name": "delay"}, {"name": "address"}]},
    {"name": "product", "description": "Using the lamps and thermostats", "children": [
        {"name": "setup"}, {"name": "warranty"}, {"name": "usage"}]},
]


def run_queued_jobs() -> None:
    """Run every queued background job with the real database worker, then return."""
    call_command("db_worker", queue_name="*", batch=True, reload=False, startup_delay=False, verbosity=0)


def demo_people_create(workspace) -> dict:
    people = {}
    for username, role in DEMO_PEOPLE:
        user = user_create(username=username, password=f"demo-{username}", is_superuser=(role == Role.ADMIN))
        membership_set(workspace=workspace, user=user, role=role)
        people[username] = user
    return people


def demo_loop_run(*, say: Callable[[str], None] = print, train_steps: int = 30) -> dict:
    """Create the demo workspace and run the loop once. Returns the objects it made, by name."""
    with transaction.atomic():
        workspace = workspace_create(name=DEMO_WORKSPACE, description="A smart-home maker's customer service, in English and Chinese.")
        people = demo_people_create(workspace)
        ml, pm = people["ml"], people["pm"]
        source = source_create(workspace=workspace, name="Support FAQ (written by the team)", kind="expert_written", quality_tier="A")
        dataset = dataset_create(workspace=workspace, name="support-faq", description="Customer-service answers", created_by=ml)
        job = import_job_create(dataset=dataset, file_name=DEMO_DATA.name, path=DEMO_DATA, source=source, created_by=ml, run_in_background=False)
    job = import_job_run(job=job)
    say(f"imported {job.created_count} records ({job.duplicate_count} exact duplicates skipped)")

    dedupe = dedupe_run_execute(run=dedupe_run_create(dataset=dataset, created_by=ml, seed=7, run_in_background=False))
    version = dedupe_run_apply(run=dedupe, actor=ml, ratios={"train": 0.75, "validation": 0.1, "test": 0.15})
    say(f"deduped: dropped {dedupe.drop_count} of {dedupe.record_count} records; {dataset.name} v{version.number}: {version.counts}")

    schema = label_schema_create(workspace=workspace, name="Support topics", tree=DEMO_LABELS, created_by=ml)
    project = annotation_project_create(workspace=workspace, name="Topic labels", dataset_version=version, schema=schema,
                                        instructions="Pick the topic of the customer's message. Fix the answer if it is wrong.", created_by=ml)
    labels_by_path = {label.path: label for label in Label.objects.filter(schema=schema)}
    topics = _demo_topics()
    labelled = 0
    for annotator in (people["expert"], people["staff"]):
        for _ in range(6):
            assignment = assignment_claim_next(project=project, annotator=annotator)
            if assignment is None:
                break
            record = assignment.task.entry.record
            topic = topics.get(record.messages[1]["content"], "product/usage")
            annotation_submit(assignment=assignment, label_ids=[labels_by_path[topic].pk], time_spent_ms=4200, submitted_by=annotator)
            labelled += 1
    labelled_version = annotation_project_export(project=project, created_by=ml)
    say(f"labelled {labelled} records; exported as {dataset.name} v{labelled_version.number}")

    call_command("build_tiny_model", workspace=workspace.name, name="tiny-chat", verbosity=0)
    base_model = BaseModel.objects.get(workspace=workspace, name="tiny-chat")
    say(f"built and registered the tiny base model {base_model.name} ({base_model.parameter_count:,} parameters)")

    with transaction.atomic():
        run = training_run_create(workspace=workspace, name="support-faq-lora", base_model=base_model, dataset_version=labelled_version,
                                  hyperparameters={"max_steps": train_steps, "learning_rate": 1e-3, "logging_steps": 2}, created_by=ml)
    run_queued_jobs()
    run.refresh_from_db()
    if run.status != TrainingRun.Status.SUCCEEDED:
        raise RuntimeError(f"the demo training run ended {run.status}: {run.error}")
    learned = "the replies only" if run.hyperparameters["assistant_only_loss"] else "every token"
    say(f"trained {run.name} on {learned}: {run.metric_points.count()} metric points, adapter registered")

    with transaction.atomic():
        study = study_create(workspace=workspace, name="Does the fine-tune answer better?", dataset_version=labelled_version,
                             arms=[{"name": "tiny-chat (base)", "base_model": base_model, "is_baseline": True},
                                   {"name": "support-faq-lora", "artifact": run.artifact, "is_baseline": False}],
                             max_new_tokens=48, votes_per_comparison=2, question="Which answer helps the customer more?", created_by=pm)
    run_queued_jobs()
    study.refresh_from_db()
    rng = random.Random(7)
    votes = 0
    for rater in (people["reviewer"], people["crowd"]):
        while votes < 8 and (showing := showing_serve(study=study, rater=rater)) is not None:
            vote_submit(comparison=showing.comparison, rater=rater, choice=rng.choice(["left", "right", "tie"]), time_spent_ms=3000)
            votes += 1
    report = study_report(study=study)
    say(f"study {study.name!r}: {votes} votes so far; open it as pm to read the support rate")

    accepted = demo_feedback_send(workspace=workspace, created_by=ml, base_name=base_model.name, tuned_name=run.name)
    say(f"the demo shop app sent {accepted} feedback events (likes, dislikes, best-of-2 picks); open Feedback as ml or pm")
    pairs = demo_ranking_run(workspace=workspace, people=people)
    say(f"two annotators ranked {pairs.operation_detail['ranked']} sets of reply drafts; exported as "
        f"{pairs.dataset.name} v{pairs.number} with {pairs.operation_detail['pairs']} preference pairs for DPO")
    return {"workspace": workspace, "dataset": dataset, "version": version, "labelled_version": labelled_version,
            "project": project, "run": run, "study": study, "report": report, "people": people, "pairs": pairs}


def demo_ranking_run(*, workspace, people: dict):
    """Reply drafts (three per question) ranked best first by two annotators, who disagree once, and exported as
    preference pairs; returns the exported version."""
    ml = people["ml"]
    with transaction.atomic():
        source = source_create(workspace=workspace, name="Reply drafts (several models)", kind="synthetic", quality_tier="C")
        dataset = dataset_create(workspace=workspace, name="reply-drafts", description="Three drafts per question, to rank",
                                 created_by=ml)
        job = import_job_create(dataset=dataset, file_name=DEMO_DRAFTS.name, path=DEMO_DRAFTS, source=source, created_by=ml,
                                run_in_background=False)
    import_job_run(job=job)
    version = dataset_version_freeze(dataset=dataset, created_by=ml, seed=7)
    schema = label_schema_create(workspace=workspace, name="Reply drafts", created_by=ml,
                                 tree=[{"name": "fine", "description": "Nothing wrong with the question"},
                                       {"name": "unclear", "description": "The question needs more detail"}],
                                 ranking_question="Put the drafts in order: the one you would send first")
    project = annotation_project_create(workspace=workspace, name="Rank reply drafts", dataset_version=version, schema=schema,
                                        overlap=2, instructions="Rank the drafts: correct and complete beats short.", created_by=ml)
    fine = Label.objects.get(schema=schema, path="fine")
    with open(DEMO_DRAFTS, encoding="utf-8") as lines:
        place = {row["messages"][-1]["content"]: i % 3 for i, row in enumerate(map(json.loads, lines))}
    for annotator in (people["crowd"], people["staff"]):
        first = True
        while (assignment := assignment_claim_next(project=project, annotator=annotator)) is not None:
            texts = dict(VersionRecord.objects.filter(pk__in=assignment.task.candidates).values_list("pk", "record__messages"))
            ranking = sorted(texts, key=lambda entry: place[texts[entry][-1]["content"]])
            if annotator == people["staff"] and first:
                ranking[1], ranking[2] = ranking[2], ranking[1]  # one disagreement, for the dashboard's Kendall tau
            first = False
            annotation_submit(assignment=assignment, label_ids=[fine.pk], ranking=ranking, time_spent_ms=6100,
                              submitted_by=annotator)
    return annotation_project_export(project=project, created_by=ml, output="preference_pairs")


def _demo_topics() -> dict[str, str]:
    """The topic each demo question was written under, by the question text."""
    topics = {}
    with open(DEMO_DATA, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            topics[row["messages"][1]["content"]] = row["topic"]
    return topics


GENERIC_ANSWERS = ["Thanks for reaching out! Please check our help center for more information.",
                   "感谢您的咨询！请查看我们的帮助中心。"]


def demo_feedback_send(*, workspace, created_by, base_name: str, tuned_name: str, count: int = 24) -> int:
    """A week of production feedback from a demo shop app, through the same ingest service as the API: the team's
    answers (standing in for the fine-tune) are mostly liked and picked, the generic ones (the base model) mostly not."""
    source = feedback_source_create(workspace=workspace, name="Lumen shop app (demo)", created_by=created_by)
    rng = random.Random(11)
    now = timezone.now()
    with open(DEMO_DATA, encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines][:count]
    events = []
    for i, row in enumerate(rows):
        question, answer = row["messages"][1:3]
        generic = GENERIC_ANSWERS[row["lang"] == "zh"]
        tuned = {"text": answer["content"], "model": tuned_name, "prompt_version": "p1"}
        base = {"text": generic, "model": base_name, "prompt_version": "p1"}
        common = {"occurred_at": (now - timedelta(hours=7 * i)).isoformat(), "messages": [question],
                  "app_id": "lumen-shop", "session_id": f"demo-{i // 3}", "user_id": f"customer-{i % 5}"}
        if i % 3 == 2:
            candidates = [base, tuned] if rng.random() < 0.5 else [tuned, base]
            picked = candidates.index(tuned) if rng.random() < 0.8 else candidates.index(base)
            events.append({**common, "idempotency_key": f"demo-{i}-pick", "kind": "choice", "responses": candidates,
                           "chosen_index": picked})
        else:
            response = tuned if i % 3 == 0 else base
            liked = rng.random() < (0.85 if response is tuned else 0.3)
            events.append({**common, "idempotency_key": f"demo-{i}-{'like' if liked else 'dislike'}",
                           "kind": "like" if liked else "dislike", "responses": [response]})
    return feedback_events_ingest(source=source, events=events).count("accepted")

