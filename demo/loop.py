"""The demo workspace and one pass of the whole loop, through the same services every user goes through.

import → dedupe (exact, near-duplicate, semantic; applied as v1) → label (two annotators per item, a share re-checked) →
export → the base model (the tiny model pretrained on everyday conversation, cached under var/; or the model directory
given) → SFT → blind study voted by a simulated rater → a week of production feedback from a demo shop app, decided by
the same rule; the built-in model server registered as model endpoints (base and fine-tune); beside it, reply drafts
ranked by two annotators and exported as DPO preference pairs.

The simulated rater is a stated rule (common.simulation.closer_to_reference), not a coin: it prefers the answer closer
to the team's reference reply, so the study's support rate follows from what the two models wrote. Its votes and the
shop's events are marked simulated, and the pages say so.
"""

import json
import random
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from accounts.services import api_token_create, membership_set, user_create, workspace_create
from annotation.models import Label
from annotation.services.annotations import annotation_submit
from annotation.services.export import annotation_project_export
from annotation.services.label_schemas import label_schema_create
from annotation.services.projects import annotation_project_create
from annotation.services.queue import assignment_claim_next
from annotation.services.reviews import annotation_project_layers_set, review_claim_next, review_decide
from common.simulation import CLOSER_TO_REFERENCE, closer_to_reference, liked_by_reference, picked_by_reference
from datahub.models import Record, VersionRecord
from datahub.services.datasets import dataset_create, source_create
from datahub.services.imports import import_job_create, import_job_run
from datahub.services.versions import dataset_version_freeze
from dedupe.services import dedupe_run_apply, dedupe_run_create, dedupe_run_execute
from demo.base_model import (
    DEMO_DATA,
    DEMO_TRAIN_STEPS,
    PRETRAIN_STEPS,
    TINY_FINE_TUNE,
    demo_base_model_register,
)
from demo.release import demo_release_prepare
from evaluation.models import Answer, StudyPrompt
from evaluation.selectors import study_report
from evaluation.services.showings import showing_serve
from evaluation.services.studies import study_create
from evaluation.services.votes import vote_submit
from feedback.services import feedback_events_ingest, feedback_source_create
from llm.services.endpoints import model_endpoint_create
from training.models import TrainingRun
from training.services.runs import training_run_create

DEMO_WORKSPACE = "Lumen Home support"
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
# The simulated rater: a member who never signs in (no usable password), whose votes the rule casts.
SIMULATED_RATER = "simulated-rater"
DEMO_LABELS = [
    {
        "name": "billing",
        "description": "Money: refunds, invoices, charges",
        "children": [{"name": "refund"}, {"name": "invoice"}, {"name": "charge"}],
    },
    {
        "name": "account",
        "description": "Signing in and managing the account",
        "children": [{"name": "login"}, {"name": "password"}, {"name": "delete"}],
    },
    {
        "name": "shipping",
        "description": "Getting the parcel there",
        "children": [{"name": "delay"}, {"name": "address"}],
    },
    {
        "name": "product",
        "description": "Using the lamps and thermostats",
        "children": [{"name": "setup"}, {"name": "warranty"}, {"name": "usage"}],
    },
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
    rater = user_create(username=SIMULATED_RATER, password=secrets.token_urlsafe(32))
    rater.set_unusable_password()
    rater.first_name, rater.last_name = "Simulated", "rater"
    rater.save(update_fields=["password", "first_name", "last_name"])
    membership_set(workspace=workspace, user=rater, role=Role.CROWD_ANNOTATOR)
    people[SIMULATED_RATER] = rater
    return people


def demo_loop_run(*, say: Callable[[str], None] = print, train_steps: int = DEMO_TRAIN_STEPS,
                  pretrain_steps: int = PRETRAIN_STEPS, model_dir: Path | None = None, server: str = "127.0.0.1:8000") -> dict:
    """Create the demo workspace and run the loop once. Returns the objects it made, by name.

    `server` is the host:port the built-in model server will answer on (the endpoints point there); the outbound policy
    must allow it (demo.management.commands.demo.own_server_allow)."""
    with transaction.atomic():
        workspace = workspace_create(
            name=DEMO_WORKSPACE, description="A smart-home maker's customer service, in English and Chinese."
        )
        people = demo_people_create(workspace)
        ml, pm = people["ml"], people["pm"]
        source = source_create(
            workspace=workspace, name="Support FAQ (written by the team)", kind="expert_written", quality_tier="A"
        )
        dataset = dataset_create(
            workspace=workspace, name="support-faq", description="Customer-service answers", created_by=ml
        )
        job = import_job_create(
            dataset=dataset,
            file_name=DEMO_DATA.name,
            path=DEMO_DATA,
            source=source,
            created_by=ml,
            run_in_background=False,
        )
    job = import_job_run(job=job)
    say(f"imported {job.created_count} records ({job.duplicate_count} exact duplicates skipped)")

    dedupe = dedupe_run_execute(run=dedupe_run_create(dataset=dataset, created_by=ml, seed=7, run_in_background=False))
    version = dedupe_run_apply(run=dedupe, actor=ml, ratios={"train": 0.75, "validation": 0.1, "test": 0.15})
    say(
        f"deduped: dropped {dedupe.drop_count} of {dedupe.record_count} records; {dataset.name} v{version.number}: "
        f"{version.counts}"
    )

    schema = label_schema_create(workspace=workspace, name="Support topics", tree=DEMO_LABELS, created_by=ml)
    project = annotation_project_create(
        workspace=workspace,
        name="Topic labels",
        dataset_version=version,
        schema=schema,
        overlap=2,
        instructions="Pick the topic of the customer's message. Fix the answer if it is wrong.",
        created_by=ml,
    )
    # A third of the labels go to a reviewer's re-check queue, so review and agreement have something to show.
    annotation_project_layers_set(
        project=project,
        review_rate=0.34,
        spot_check_rate=0.0,
        gold_rate=0.0,
        disagreement_threshold=0.5,
        blind=False,
        label_pools=[],
        set_by=ml,
    )
    labelled, disagreed = _demo_label(project=project, schema=schema, annotators=(people["expert"], people["staff"]))
    review = review_claim_next(project=project, reviewer=people["reviewer"], layer="review")
    if review is not None:
        review_decide(review=review, reviewer=people["reviewer"], verdict="accept")
    labelled_version = annotation_project_export(project=project, created_by=ml)
    say(f"two annotators labelled {labelled} items each ({disagreed} disagreement); a reviewer re-checked one; "
        f"exported as {dataset.name} v{labelled_version.number}")

    base_model = demo_base_model_register(workspace=workspace, registered_by=ml, model_dir=model_dir,
                                          pretrain_steps=pretrain_steps, say=say)

    with transaction.atomic():
        # The tiny model's pretraining never saw the shop's words (their embeddings are still random), which a LoRA
        # adapter cannot reach: it is tuned whole. A real model (MODEL=) gets a LoRA adapter.
        tiny = model_dir is None
        run = training_run_create(
            workspace=workspace,
            name="support-faq-tuned" if tiny else "support-faq-lora",
            base_model=base_model,
            dataset_version=labelled_version,
            adapter=TrainingRun.Adapter.FULL if tiny else TrainingRun.Adapter.LORA,
            hyperparameters=(
                {"max_steps": train_steps, **TINY_FINE_TUNE} if tiny
                else {"max_steps": train_steps, "learning_rate": 2e-4, "logging_steps": 5}
            ),
            created_by=ml,
        )
    run_queued_jobs()
    run.refresh_from_db()
    if run.status != TrainingRun.Status.SUCCEEDED:
        raise RuntimeError(f"the demo training run ended {run.status}: {run.error}")
    learned = "the replies only" if run.hyperparameters["assistant_only_loss"] else "every token"
    say(f"trained {run.name} on {learned}: {run.metric_points.count()} metric points, the tuned model registered")

    with transaction.atomic():
        study = study_create(
            workspace=workspace,
            name="Does the fine-tune answer better?",
            dataset_version=labelled_version,
            arms=[
                {"name": f"{base_model.name} (base)", "base_model": base_model, "is_baseline": True},
                {"name": run.name, "artifact": run.artifact, "is_baseline": False},
            ],
            max_new_tokens=64,
            votes_per_comparison=2,
            question="Which answer helps the customer more?",
            created_by=pm,
        )
    run_queued_jobs()
    study.refresh_from_db()
    if study.status != study.Status.OPEN:
        raise RuntimeError(f"the demo study ended {study.status}: {study.error}")
    votes = demo_votes_simulate(study=study, rater=people[SIMULATED_RATER])
    report = study_report(study=study)
    rates = ", ".join(
        f"{row.candidate.name} {row.summary.support_rate:.0%}" for row in report.results
        if row.summary.support_rate is not None
    )
    say(f"study {study.name!r}: the simulated rater (the answer closer to the reference reply) cast {votes} votes; "
        f"support rate {rates or 'not yet'}; each comparison waits for one more vote from a person")

    accepted = demo_feedback_send(workspace=workspace, created_by=ml, study=study)
    say(
        f"the demo shop app sent {accepted} simulated feedback events (likes, dislikes, best-of-2 picks, decided by "
        "the "
        f"same rule); open Feedback as ml or pm"
    )
    endpoints = demo_endpoints_register(workspace=workspace, owner=ml, base_model=base_model, run=run, server=server)
    say(f"registered the built-in model server (http://{server}/v1) as {len(endpoints)} model endpoints: "
        f"{', '.join(e.name for e in endpoints)}")
    pairs = demo_ranking_run(workspace=workspace, people=people)
    say(f"two annotators ranked {pairs.operation_detail['ranked']} sets of reply drafts; exported as "
        f"{pairs.dataset.name} v{pairs.number} with {pairs.operation_detail['pairs']} preference pairs for DPO")
    release = demo_release_prepare(workspace=workspace, base_model=base_model, run=run, people=people,
                                   run_jobs=run_queued_jobs, say=say)
    return {"workspace": workspace, "dataset": dataset, "version": version, "labelled_version": labelled_version,
            "project": project, "run": run, "study": study, "report": report, "people": people, "pairs": pairs,
            "base_model": base_model, "endpoints": endpoints, **release}


def _demo_label(*, project, schema, annotators) -> tuple[int, int]:
    """Both annotators label the first items of the project with the topic each question was written under; the second
    picks a sibling topic once, so agreement has a disagreement to show. Returns (items per annotator,
    disagreements)."""
    labels_by_path = {label.path: label for label in Label.objects.filter(schema=schema)}
    topics = _demo_topics()
    done, disagreed = 0, 0
    for position, annotator in enumerate(annotators):
        done = 0
        for _ in range(6):
            assignment = assignment_claim_next(project=project, annotator=annotator)
            if assignment is None:
                break
            record = assignment.task.entry.record
            topic = topics.get(record.messages[1]["content"], "product/usage")
            if position == 1 and disagreed == 0 and topic.startswith("billing/") and topic != "billing/charge":
                topic, disagreed = "billing/charge", 1
            annotation_submit(
                assignment=assignment, label_ids=[labels_by_path[topic].pk], time_spent_ms=4200, submitted_by=annotator
            )
            done += 1
    return done, disagreed


def _references(study) -> dict[int, str]:
    """The team's reference reply of each of the study's prompts (the record's last assistant turn), by prompt id."""
    prompts = list(StudyPrompt.objects.filter(study=study, is_gold=False).values_list("pk", "record_id"))
    messages = dict(Record.objects.filter(pk__in=[record for _pk, record in prompts]).values_list("pk", "messages"))
    references = {}
    for prompt, record in prompts:
        replies = [m["content"] for m in messages.get(record, []) if m.get("role") == "assistant" and m.get("content")]
        if replies:
            references[prompt] = replies[-1]
    return references


def demo_votes_simulate(*, study, rater) -> int:
    """The simulated rater votes once on every comparison it is served: the answer closer to the reference reply
    (common.simulation.closer_to_reference) as it sees the sides, a tie when they are about as close. Returns the
    votes."""
    references = _references(study)
    votes = 0
    while (showing := showing_serve(study=study, rater=rater)) is not None:
        reference = references.get(showing.comparison.prompt_id)
        if reference is None:
            choice = "tie"
        else:
            preferred = closer_to_reference(
                reference=reference, first=showing.left_answer.text, second=showing.right_answer.text
            )
            choice = {"first": "left", "second": "right", "tie": "tie"}[preferred]
        vote_submit(
            comparison=showing.comparison, rater=rater, choice=choice, time_spent_ms=0, simulated_by=CLOSER_TO_REFERENCE
        )
        votes += 1
    return votes


def demo_endpoints_register(*, workspace, owner, base_model, run, server: str) -> list:
    """The built-in model server at http://<server>/v1 as two model endpoints, the base model and the fine-tune, with an
    API token of `owner` (stored encrypted in the endpoints) as their key."""
    _token, key = api_token_create(user=owner, name="Demo model endpoints (built-in server)", created_by=owner)
    base_url = f"http://{server}/v1"
    models = [(f"{base_model.name} (base, built-in server)", f"{workspace.pk}/{base_model.name}"),
              (f"{run.name} (fine-tune, built-in server)", f"{workspace.pk}/artifacts/{run.artifact.pk}")]
    return [
        model_endpoint_create(
            workspace=workspace,
            name=name,
            base_url=base_url,
            model=model,
            api_key=key,
            timeout_seconds=120,
            max_retries=1,
            concurrency=2,
            created_by=owner,
        )
        for name, model in models
    ]


def demo_ranking_run(*, workspace, people: dict):
    """Reply drafts (three per question) ranked best first by two annotators, who disagree once, and exported as
    preference pairs; returns the exported version."""
    ml = people["ml"]
    with transaction.atomic():
        source = source_create(
            workspace=workspace, name="Reply drafts (several models)", kind="synthetic", quality_tier="C"
        )
        dataset = dataset_create(
            workspace=workspace, name="reply-drafts", description="Three drafts per question, to rank", created_by=ml
        )
        job = import_job_create(
            dataset=dataset,
            file_name=DEMO_DRAFTS.name,
            path=DEMO_DRAFTS,
            source=source,
            created_by=ml,
            run_in_background=False,
        )
    import_job_run(job=job)
    version = dataset_version_freeze(dataset=dataset, created_by=ml, seed=7)
    schema = label_schema_create(workspace=workspace, name="Reply drafts", created_by=ml,
                                 tree=[{"name": "fine", "description": "Nothing wrong with the question"},
                                       {"name": "unclear", "description": "The question needs more detail"}],
                                 ranking_question="Put the drafts in order: the one you would send first")
    project = annotation_project_create(
        workspace=workspace,
        name="Rank reply drafts",
        dataset_version=version,
        schema=schema,
        overlap=2,
        instructions="Rank the drafts: correct and complete beats short.",
        created_by=ml,
    )
    fine = Label.objects.get(schema=schema, path="fine")
    with open(DEMO_DRAFTS, encoding="utf-8") as lines:
        place = {row["messages"][-1]["content"]: i % 3 for i, row in enumerate(map(json.loads, lines))}
    for annotator in (people["crowd"], people["staff"]):
        first = True
        while (assignment := assignment_claim_next(project=project, annotator=annotator)) is not None:
            texts = dict(
                VersionRecord.objects.filter(pk__in=assignment.task.candidates).values_list("pk", "record__messages")
            )
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


def demo_feedback_send(*, workspace, created_by, study, count: int = 24) -> int:
    """A week of production feedback from a demo shop app, through the same ingest service as the API, decided by the
    simulated rater's rule on what the two models actually answered in the study (the test questions, which neither
    model trained on): a like when an answer is close enough to the team's reference reply, else a dislike; a best-of-2
    pick of the closer answer. The source is marked simulated."""
    source = feedback_source_create(
        workspace=workspace,
        name="Lumen shop app (demo)",
        created_by=created_by,
        simulated_by=CLOSER_TO_REFERENCE,
        description="A simulated shop app: its likes, dislikes and picks follow a stated rule.",
    )
    references = _references(study)
    answers: dict[int, dict[str, str]] = {}
    for prompt, arm, text in Answer.objects.filter(
        prompt__study=study, prompt__in=list(references), arm__isnull=False
    ).values_list("prompt_id", "arm__name", "text"):
        answers.setdefault(prompt, {})[arm] = text
    baseline, candidate = (
        study.arms.get(is_baseline=True).name,
        study.arms.exclude(is_baseline=True).order_by("pk")[0].name,
    )
    prompts = {prompt.pk: prompt.messages for prompt in StudyPrompt.objects.filter(pk__in=list(answers))}
    # An empty answer cannot be sent as feedback (the ingest refuses it): the shop asks only where both models answered.
    order = [
        prompt
        for prompt in sorted(answers)
        if {baseline, candidate} <= set(answers[prompt])
        and answers[prompt][baseline].strip()
        and answers[prompt][candidate].strip()
    ]
    if not order:
        return 0
    rng = random.Random(11)
    now = timezone.now()
    events = []
    for i in range(count):
        prompt = order[i % len(order)]
        reference = references[prompt]
        question = [m for m in prompts[prompt] if m["role"] != "system"][-1]
        tuned = {"text": answers[prompt][candidate], "model": candidate, "prompt_version": "p1"}
        base = {"text": answers[prompt][baseline], "model": baseline, "prompt_version": "p1"}
        common = {"occurred_at": (now - timedelta(hours=7 * i)).isoformat(), "messages": [question],
                  "app_id": "lumen-shop", "session_id": f"demo-{i // 3}", "user_id": f"customer-{i % 5}"}
        if i % 3 == 2:
            candidates = [base, tuned] if rng.random() < 0.5 else [tuned, base]
            picked = picked_by_reference(reference=reference, answers=[c["text"] for c in candidates])
            events.append({**common, "idempotency_key": f"demo-{i}-pick", "kind": "choice", "responses": candidates,
                           "chosen_index": picked})
        else:
            response = tuned if i % 3 == 0 else base
            liked = liked_by_reference(reference=reference, answer=response["text"])
            events.append({**common, "idempotency_key": f"demo-{i}-{'like' if liked else 'dislike'}",
                           "kind": "like" if liked else "dislike", "responses": [response]})
    return feedback_events_ingest(source=source, events=events).count("accepted")
