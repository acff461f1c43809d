"""From feedback events to training data: rules that turn a time range of events into records with lineage, frozen as
a dataset version (operation "feedback"), with conflicting signals sent to expert review.

The rules:
    choice among N      one DPO pair per other candidate: chosen over it
    like / dislike      one KTO row per (prompt, answer); and DPO pairs where one prompt has a liked and a disliked
                        answer
    edit                an SFT record with the edited answer, and a DPO pair: edited over original
    conflicts           the same prompt and answer both liked and disliked, and disputed dislikes (an answer disliked by
                        one user but picked as the best of N by another) give no training row: they become items of an
                        annotation project for experts (label "good" or "bad")

Every record keeps in `raw` the ids of the events it came from and the rule that made it. Answers are compared by
their whitespace-normalised text; prompts by the events' prompt hash.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from accounts.models import Workspace
from annotation.selectors import label_schema_by_name
from annotation.services import annotation_project_create, label_schema_create
from common.errors import ApplicationError
from common.history import history_record
from datahub.canonical import canonical_validate
from datahub.models import Dataset, DatasetVersion
from datahub.selectors import dataset_group_rows
from datahub.services.datasets import dataset_create
from datahub.services.records import record_build, records_insert
from datahub.services.versions import dataset_version_create
from datahub.splits import DEFAULT_RATIOS, ratios_check, split_entries
from feedback.models import FeedbackEvent, FeedbackSource
from feedback.selectors import feedback_events_between

PAIRS_PER_PROMPT_SIDE = 4  # like/dislike pairs: at most 4 liked x 4 disliked answers per prompt
REVIEW_SCHEMA_NAME = "Feedback review"
REVIEW_TREE = [{"name": "good", "description": "a good answer to train towards"},
               {"name": "bad", "description": "a bad answer to train away from"}]
EVENT_FIELDS = ("pk", "kind", "messages", "responses", "chosen_index", "edited_text", "prompt_hash")
PROGRESS_EVERY = 2000


@dataclass
class FeedbackExport:
    version: DatasetVersion
    counts: dict = field(default_factory=dict)
    review_project: object | None = None


def _norm(text: str) -> str:
    return " ".join((text or "").split())


class _Rows:
    """Canonical rows keyed by content, each with the events it came from; rows the canonical form refuses are
    counted."""

    def __init__(self):
        self.rows: dict[tuple, dict] = {}
        self.skipped = 0

    def add(self, row: dict, *, rule: str, events) -> None:
        try:
            clean = canonical_validate(row)
        except ApplicationError:
            self.skipped += 1
            return
        key = (
            clean["kind"],
            repr(clean["messages"]),
            repr(clean.get("chosen")),
            repr(clean.get("rejected")),
            clean.get("label"),
        )
        entry = self.rows.setdefault(key, {"clean": clean, "rule": rule, "events": set()})
        entry["events"].update(events)

    def counts(self) -> dict:
        tally = defaultdict(int)
        for entry in self.rows.values():
            tally[entry["rule"]] += 1
        return dict(tally)


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _events(workspace: Workspace, sources, since, until):
    events = feedback_events_between(workspace, since, until).exclude(kind=FeedbackEvent.Kind.COMMENT)
    if sources:
        events = events.filter(source__in=sources)
    return events.order_by("pk")


def feedback_rows_build(events, *, on_progress=None) -> tuple[_Rows, list[dict]]:
    """Apply the rules to events (dicts of EVENT_FIELDS). Returns the training rows and the review items."""
    rows = _Rows()
    ratings: dict[tuple, dict] = {}  # (prompt hash, answer) -> messages, text, likes, dislikes
    picked: set[tuple] = set()       # (prompt hash, answer) chosen as the best of N at least once
    total = len(events)
    for done, event in enumerate(events, start=1):
        messages, responses, pk = event["messages"], event["responses"], event["pk"]
        if event["kind"] == FeedbackEvent.Kind.CHOICE:
            chosen = responses[event["chosen_index"]]["text"]
            picked.add((event["prompt_hash"], _norm(chosen)))
            for i, other in enumerate(responses):
                if i != event["chosen_index"] and _norm(other["text"]) != _norm(chosen):
                    rows.add({"kind": "preference", "messages": messages, "chosen": _assistant(chosen),
                              "rejected": _assistant(other["text"])}, rule="choice", events=[pk])
        elif event["kind"] == FeedbackEvent.Kind.EDIT:
            original, edited = responses[0]["text"], event["edited_text"]
            rows.add({"kind": "sft", "messages": messages + [_assistant(edited)]}, rule="edit_sft", events=[pk])
            if _norm(original) != _norm(edited):
                rows.add({"kind": "preference", "messages": messages, "chosen": _assistant(edited),
                          "rejected": _assistant(original)}, rule="edit_pair", events=[pk])
        else:
            text = responses[0]["text"]
            entry = ratings.setdefault((event["prompt_hash"], _norm(text)),
                                       {"messages": messages, "text": text, "likes": [], "dislikes": []})
            entry["likes" if event["kind"] == FeedbackEvent.Kind.LIKE else "dislikes"].append(pk)
        if on_progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            on_progress(done, total)

    review, liked, disliked = [], defaultdict(list), defaultdict(list)
    for (prompt, answer), entry in ratings.items():
        if entry["likes"] and entry["dislikes"]:
            review.append({**entry, "reason": "conflict"})
        elif entry["dislikes"] and (prompt, answer) in picked:
            review.append({**entry, "reason": "disputed_dislike"})
        else:
            label = bool(entry["likes"])
            rows.add({"kind": "kto", "messages": entry["messages"] + [_assistant(entry["text"])], "label": label},
                     rule="kto", events=entry["likes"] + entry["dislikes"])
            (liked if label else disliked)[prompt].append(entry)
    for prompt, good in liked.items():
        for g in good[:PAIRS_PER_PROMPT_SIDE]:
            for b in disliked.get(prompt, [])[:PAIRS_PER_PROMPT_SIDE]:
                rows.add({"kind": "preference", "messages": g["messages"], "chosen": _assistant(g["text"]),
                          "rejected": _assistant(b["text"])}, rule="like_pair", events=g["likes"] + b["dislikes"])
    return rows, review


def _freeze(
    *, dataset: Dataset, operation_detail: dict, note: str, seed: int, ratios: dict, created_by
) -> DatasetVersion:
    """Every record of the dataset as its next version, split by prompt so no prompt lands in two splits."""
    rows = dataset_group_rows(dataset_id=dataset.pk)
    entries = split_entries([pk for pk, _, _ in rows], {pk: prompt for pk, prompt, _ in rows}, seed=seed, ratios=ratios)
    parent = dataset.versions.order_by("-number").first()
    return dataset_version_create(
        dataset=dataset,
        entries=entries,
        operation=DatasetVersion.Operation.FEEDBACK,
        parent=parent,
        seed=seed,
        ratios=ratios,
        operation_detail=operation_detail,
        note=note,
        created_by=created_by,
    )


def _insert(dataset: Dataset, items: list[tuple[dict, dict]]) -> tuple[int, int]:
    records = [record_build(dataset=dataset, clean=clean, raw=raw, origin="feedback") for clean, raw in items]
    return records_insert(dataset=dataset, records=records)


def _review_project(*, workspace, dataset: Dataset, review: list[dict], detail: dict, created_by):
    items = []
    for entry in review:
        clean = canonical_validate({"kind": "sft", "messages": entry["messages"] + [_assistant(entry["text"])]})
        items.append((clean, {"feedback_events": sorted(entry["likes"] + entry["dislikes"]), "rule": entry["reason"],
                              "likes": len(entry["likes"]), "dislikes": len(entry["dislikes"])}))
    review_dataset = dataset_create(
        workspace=workspace,
        name=f"{dataset.name[:150]} · review {detail['version']}",
        description="conflicting production feedback for expert review",
        created_by=created_by,
    )
    _insert(review_dataset, items)
    version = _freeze(
        dataset=review_dataset,
        operation_detail={**detail, "review": True},
        note="feedback for expert review",
        seed=0,
        ratios={"train": 1.0, "validation": 0.0, "test": 0.0},
        created_by=created_by,
    )
    schema = label_schema_by_name(workspace=workspace, name=REVIEW_SCHEMA_NAME)
    if schema is None:
        schema = label_schema_create(
            workspace=workspace, name=REVIEW_SCHEMA_NAME, tree=REVIEW_TREE, created_by=created_by
        )
    return annotation_project_create(
        workspace=workspace,
        name=f"Feedback review: {dataset.name[:150]} v{detail['version']}",
        dataset_version=version,
        schema=schema,
        instructions="Users disagreed about these answers (liked and disliked, or disliked but picked as the best). "
        "Label each answer good or bad.",
        created_by=created_by,
    )


@transaction.atomic
def feedback_dataset_build(
    *,
    workspace: Workspace,
    dataset_name: str = "",
    dataset: Dataset | None = None,
    sources: list[FeedbackSource] | None = None,
    since=None,
    until=None,
    review: bool = True,
    seed: int = 0,
    ratios: dict | None = None,
    created_by=None,
    on_progress=None,
) -> FeedbackExport:
    """Turn the workspace's events (of `sources`, occurred in [since, until)) into records of a dataset and freeze its
    next version with operation "feedback". Give `dataset` to add to an existing dataset (records it already holds are
    kept once), or `dataset_name` for a new one. With `review`, conflicting signals become an annotation project.

    All or nothing: on any error no dataset, record, version or project is left behind.
    """
    if dataset is None and not (dataset_name or "").strip():
        raise ApplicationError("name the dataset to create, or choose an existing one", where="dataset_name")
    if dataset is not None and dataset.workspace_id != workspace.pk:
        raise ApplicationError("the dataset belongs to another workspace", where="dataset")
    if any(source.workspace_id != workspace.pk for source in sources or []):
        raise ApplicationError("a source belongs to another workspace", where="sources")
    if since is not None and until is not None and since >= until:
        raise ApplicationError("the start of the range must come before its end", where="since")
    ratios = ratios_check(ratios or DEFAULT_RATIOS)
    events = list(_events(workspace, sources, since, until).values(*EVENT_FIELDS))
    if not events:
        raise ApplicationError("no like, dislike, choice or edit events in this range", where="events")
    rows, review_items = feedback_rows_build(events, on_progress=on_progress)
    if not rows.rows:
        raise ApplicationError(f"the {len(events)} events gave no training record (only conflicts, or answers the "
                               "canonical form refuses)", where="events")
    if dataset is None:
        dataset = dataset_create(
            workspace=workspace,
            name=dataset_name,
            description="training data from production feedback",
            created_by=created_by,
        )
    created, duplicates = _insert(
        dataset,
        [
            (entry["clean"], {"feedback_events": sorted(entry["events"]), "rule": entry["rule"]})
            for entry in rows.rows.values()
        ],
    )
    counts = {"events": len(events), "records": len(rows.rows), "created": created, "already_in_dataset": duplicates,
              "skipped": rows.skipped, "review": len(review_items), "by_rule": rows.counts()}
    detail = {"source": "feedback", "sources": sorted(source.pk for source in sources or []),
              "since": since.isoformat() if since else None, "until": until.isoformat() if until else None, **counts}
    version = _freeze(dataset=dataset, operation_detail=detail, seed=seed, ratios=ratios, created_by=created_by,
                      note=f"{len(events)} feedback events")
    project = None
    if review and review_items:
        project = _review_project(workspace=workspace, dataset=dataset, review=review_items,
                                  detail={**detail, "version": version.number}, created_by=created_by)
        version.operation_detail = {**detail, "review_project": project.pk}
        version.save(update_fields=["operation_detail"])  # same transaction as the freeze: nobody has read it yet
    history_record(actor=created_by, target=dataset, verb="feedback_exported",
                   after={"version": version.pk, **counts, "review_project": project.pk if project else None})
    return FeedbackExport(version=version, counts=counts, review_project=project)
