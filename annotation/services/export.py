"""Turn a project's annotations into a new dataset version.

Aggregation when several annotators labelled one entry (overlap > 1):
- labels: a label path is kept when more than half of the entry's submitted annotations chose it (majority). When no
  path reaches a majority, the paths chosen most often are kept, all of them on a tie (plurality), so an annotated
  entry never loses its labels and a disagreement stays visible.
- corrected answer: the correction given by the most annotators (identical text); on a tie, the earliest submitted.
  An annotation without a correction does not vote against one.
With one annotation per entry both rules reduce to "what the annotator gave".
The label rule can be chosen instead (`aggregation`, see annotation.aggregation): "reliability" takes the answer (the
set of paths an annotator picked) given by most annotators and breaks ties by the annotators' gold accuracy in the
project; "dawid_skene" estimates each annotator's confusion between answers by EM and takes the most probable answer.
Layers: an annotation a reviewer or expert rejected does not vote; where a check fixed the labels, the latest fix is the
entry's labels whatever the votes say.
In an AI-first project an AI answer whose re-check is still pending does not vote either: only verified AI labels
(accepted, or the reviewer's fix) reach the version.
Fields beside the labels (schemas with a rating or a free-text question):
- rating: the entry gets one more label, "rating:<n>", where n is the median of its ratings (the lower of the two middle
  ratings for an even count, so it stays a point of the scale); entries nobody rated get none. Filter a version with it
  like any label (e.g. keep "rating:4" and "rating:5" for SFT).
- free text: the version's operation detail keeps, per record id, the non-empty free-text answers in submission order
  ("free_text"); the records themselves are not changed.
- pairwise preference (schemas with a pairwise question): the entry gets the label "pairwise:a", "pairwise:b" or
  "pairwise:tie" for the preference given by most of its annotators (a tie between the top counts is "tie"); the
  version detail counts the entries per outcome ("pairwise"). Where the majority prefers B (the stored rejected answer)
  on a preference record, the entry is replaced by a new Record (parent = the original, origin "annotation") with
  chosen and rejected swapped ("swapped"), so the version's chosen answer is always the preferred one and it is ready
  for DPO. An entry whose answer was corrected is not swapped (preference records are not correctable).
- ranking (schemas with a ranking question): every answer of a ranking item gets the label "rank:<k>", its place in the
  aggregated order (annotation.aggregation.ranking_aggregate: mean place over the annotators, 1 = best), and the
  item's labels; the version detail counts the ranked items ("ranked").
`output="preference_pairs"` makes a DPO-ready version instead, of preference records only (see
annotation.services.rankings.preference_pairs_export): the pairs of every ranked item in its aggregated order, and
every A/B-compared preference record with the preferred answer as chosen (ties left out).
"""

from collections import Counter, defaultdict
from statistics import median_low

from django.db import transaction
from django.db.models import Count, Q

from annotation.aggregation import dawid_skene, majority_by_reliability, ranking_aggregate, reliability_from_gold
from annotation.models import Annotation, AnnotationProject, Review
from annotation.services.schema_moves import label_path_mapper, path_in_current
from common.errors import ApplicationError
from common.history import history_record
from datahub.canonical import canonical_validate
from datahub.models import DatasetVersion, Record, VersionRecord
from datahub.services.records import record_build, records_insert_ids
from datahub.services.versions import dataset_version_create

AGGREGATION_RULE = "majority, else plurality with ties kept; correction by most annotators, ties to the earliest"
# Label rules an export can use, with the text recorded on the version.
AGGREGATIONS = {
    "majority": AGGREGATION_RULE,
    "reliability": "answer given by most annotators, ties to the higher summed gold accuracy; correction by most "
                   "annotators",
    "dawid_skene": "Dawid-Skene EM over each annotator's confusion between answers; correction by most annotators",
}


def annotator_reliability(*, project: AnnotationProject) -> dict[int, float]:
    """annotator id -> reliability from their gold items in the project ((correct + 1) / (scored + 2), see
    annotation.aggregation.reliability_from_gold); annotators without gold items are left out (they count 0.5)."""
    rows = (Annotation.objects.filter(task__project=project, gold_correct__isnull=False).values("annotator_id")
            .annotate(scored=Count("pk"), correct=Count("pk", filter=Q(gold_correct=True))))
    return reliability_from_gold({row["annotator_id"]: (row["correct"], row["scored"]) for row in rows})


def labels_by_rule(
    *, project: AnnotationProject, votes: dict[int, list[tuple[int, list[str]]]], aggregation: str
) -> dict[int, list[str]]:
    """entry id -> kept label paths from {entry id: [(annotator id, chosen paths), ...]} under the named rule."""
    if aggregation == "majority":
        return {entry: labels_aggregate([paths for _, paths in pairs]) for entry, pairs in votes.items()}
    answers = {
        entry: [(annotator, tuple(sorted(set(paths)))) for annotator, paths in pairs] for entry, pairs in votes.items()
    }
    if aggregation == "reliability":
        chosen = majority_by_reliability(answers, annotator_reliability(project=project))
    else:
        chosen = dawid_skene(answers)["labels"]
    return {entry: list(answer) for entry, answer in chosen.items()}


def counted_annotations(*, project: AnnotationProject):
    """(the annotations that vote in an export, AI answers still awaiting review): every submitted annotation except
    those a check rejected and, in an AI-first project, AI answers whose re-check is pending."""
    rejected = Review.objects.filter(
        task__project=project, status=Review.Status.REJECTED, annotation__isnull=False
    ).values("annotation_id")
    counted = Annotation.objects.filter(task__project=project).exclude(pk__in=rejected)
    unverified = 0
    if project.mode == AnnotationProject.Mode.AI_FIRST:
        # AI first: an AI answer counts once a reviewer accepted it (a fix counts through the fixed labels).
        waiting = Review.objects.filter(task__project=project, layer=Review.Layer.REVIEW, status=Review.Status.PENDING,
                                        annotation__annotator_kind=Annotation.AnnotatorKind.AI).values("annotation_id")
        unverified = waiting.count()
        counted = counted.exclude(pk__in=waiting)
    return counted, unverified


OUTPUTS = ("records", "preference_pairs")


def aggregation_check(aggregation) -> str:
    if aggregation not in AGGREGATIONS:
        raise ApplicationError(f"must be one of {', '.join(AGGREGATIONS)}", where="aggregation")
    return aggregation


def labels_aggregate(choices: list[list[str]]) -> list[str]:
    """The label paths kept for one entry from each annotation's chosen paths (see the module docstring)."""
    counts = Counter(path for paths in choices for path in set(paths))
    if not counts:
        return []
    majority = [path for path, n in counts.items() if n * 2 > len(choices)]
    if majority:
        return sorted(majority)
    top = max(counts.values())
    return sorted(path for path, n in counts.items() if n == top)


def correction_aggregate(corrections: list[str]) -> str:
    """The correction kept for one entry from the non-empty corrections, in submission order."""
    if not corrections:
        return ""
    counts = Counter(corrections)
    top = max(counts.values())
    return next(text for text in corrections if counts[text] == top)


@transaction.atomic
def annotation_project_export(*, project: AnnotationProject, created_by=None, aggregation: str = "majority",
                              output: str = "records") -> DatasetVersion:
    """Freeze the project's version with its annotations applied, as the next version of the same dataset.

    Every entry keeps its split. An annotated entry carries the aggregated label paths; a corrected entry is replaced
    by a new Record (parent = the original, origin "annotation") whose last assistant message is the correction; a
    preference entry whose annotators prefer B is replaced likewise, by its pair with chosen and rejected swapped.
    Unannotated entries are kept unchanged. The parent of the new version is the project's version. Annotations
    submitted while the export runs are left for the next export. `aggregation` names the label rule (AGGREGATIONS).
    `output` "preference_pairs" exports the rankings and A/B choices as preference records instead (module docstring).
    """
    aggregation = aggregation_check(aggregation)
    if output not in OUTPUTS:
        raise ApplicationError(f"must be one of {', '.join(OUTPUTS)}", where="output")
    if output == "preference_pairs":
        from annotation.services.rankings import preference_pairs_export

        return preference_pairs_export(project=project, created_by=created_by)
    source = project.dataset_version
    dataset = source.dataset
    entries = list(
        VersionRecord.objects.filter(version=source).order_by("pk").values_list("pk", "record_id", "split", "labels")
    )

    # Annotations first, then their labels: an annotation's labels commit with it, so every annotation read has all its
    # labels in the second read; labels of annotations submitted in between are ignored.
    counted, unverified = counted_annotations(project=project)
    annotations = list(counted.order_by("created_at", "pk")
                       .values_list("pk", "task__entry_id", "corrected_response", "annotator_id", "rating", "free_text",
                                     "preference", "ranking", "task__candidates"))
    fixes: dict[int, list[str]] = defaultdict(list)
    fixed_reviews = Review.objects.filter(task__project=project, status=Review.Status.FIXED).order_by(
        "decided_at", "pk"
    )
    latest_fix = {entry_id: review_id for review_id, entry_id in fixed_reviews.values_list("pk", "task__entry_id")}
    # Labels of versions the project moved away from count under the paths the moves gave them (dropped if none).
    mapper = label_path_mapper(project=project)
    for review_id, schema_id, path in Review.fixed_labels.through.objects.filter(
        review_id__in=list(latest_fix.values())
    ).values_list("review_id", "label__schema_id", "label__path"):
        if (path := path_in_current(mapper, schema_id, path, project.schema_id)) is not None:
            fixes[review_id].append(path)
    labels_by_annotation: dict[int, list[str]] = defaultdict(list)
    chosen = Annotation.labels.through.objects.filter(annotation__task__project=project).values_list(
        "annotation_id", "label__schema_id", "label__path")
    for annotation_id, schema_id, path in chosen:
        if (path := path_in_current(mapper, schema_id, path, project.schema_id)) is not None:
            labels_by_annotation[annotation_id].append(path)
    choices: dict[int, list[tuple[int, list[str]]]] = defaultdict(list)
    corrections: dict[int, list[str]] = defaultdict(list)
    ratings: dict[int, list[int]] = defaultdict(list)
    free_texts: dict[int, list[str]] = defaultdict(list)
    preferences: dict[int, list[str]] = defaultdict(list)
    rankings: dict[int, list[list[int]]] = defaultdict(list)
    group_of: dict[int, int] = {}  # the answers of a ranking item -> the item's entry, which holds the item's answers
    for (
        annotation_id,
        entry_id,
        corrected,
        annotator_id,
        rating,
        free_text,
        preference,
        ranking,
        candidates,
    ) in annotations:
        group_of.update((candidate, entry_id) for candidate in candidates or ())
        if ranking:
            rankings[entry_id].append(ranking)
        choices[entry_id].append((annotator_id, labels_by_annotation.get(annotation_id, [])))
        if corrected:
            corrections[entry_id].append(corrected)
        if rating is not None:
            ratings[entry_id].append(rating)
        if free_text:
            free_texts[entry_id].append(free_text)
        if preference:
            preferences[entry_id].append(preference)
    if not choices and not latest_fix:
        raise ApplicationError("the project has no submitted annotations to export", where="project", code="empty")

    kept = labels_by_rule(project=project, votes=choices, aggregation=aggregation)
    replacements = _corrected_records(
        dataset=dataset, corrections={e: correction_aggregate(c) for e, c in corrections.items()}
    )
    preferred = {entry_id: preference_aggregate(given) for entry_id, given in preferences.items()}
    swaps = _swapped_records(
        dataset=dataset, entry_ids=[e for e, p in preferred.items() if p == "b" and e not in replacements]
    )
    replacements.update(swaps)

    # A correction can turn one entry into another entry's exact content; the version keeps one copy, with both label
    # sets.
    out: dict[int, list] = {}
    free_text_by_record: dict[str, list[str]] = {}
    merged = 0
    places = {entry: place for ranked in rankings.values() for place, entry in enumerate(ranking_aggregate(ranked), 1)}
    for entry_id, record_id, split, labels in entries:
        item = group_of.get(entry_id, entry_id)
        if item in latest_fix:
            labels = sorted(fixes[latest_fix[item]])
        elif item in kept:
            labels = kept[item]
        if entry_id in places:
            labels = sorted({*labels, f"rank:{places[entry_id]}"})
        if item in ratings:
            labels = sorted({*labels, f"rating:{median_low(ratings[item])}"})
        if entry_id in preferred:
            labels = sorted({*labels, f"pairwise:{preferred[entry_id]}"})
        record_id = replacements.get(entry_id, record_id)
        if entry_id in free_texts:
            free_text_by_record.setdefault(str(record_id), []).extend(free_texts[entry_id])
        if record_id in out:
            out[record_id][2] = sorted(set(out[record_id][2]) | set(labels))
            merged += 1
            continue
        out[record_id] = [record_id, split, list(labels)]

    detail = {
        "project_id": project.pk,
        "project": project.name,
        "schema": str(project.schema),
        "annotated": len(choices),
        "corrected": len(replacements) - len(swaps),
        "merged": merged,
        "overlap": project.overlap,
        "aggregation": aggregation,
        "rule": AGGREGATIONS[aggregation],
    }
    if latest_fix:
        detail["fixed_by_review"] = len(latest_fix)
    if project.mode == AnnotationProject.Mode.AI_FIRST:
        detail["mode"] = project.mode
        detail["ai_answers_awaiting_review"] = unverified
    if ratings:
        detail["rated"] = len(ratings)
        detail["rating_rule"] = "label rating:<median of the ratings, the lower middle one on an even count>"
    if preferred:
        outcomes = Counter(preferred.values())
        detail["pairwise"] = {outcome: outcomes[outcome] for outcome in ("a", "b", "tie")}
        detail["swapped"] = len(swaps)
        detail["pairwise_rule"] = ("label pairwise:<preference of most annotators, tie when the top counts are equal>; "
                                   "b on a preference record: chosen and rejected swapped in a child record")
    if rankings:
        detail["ranked"] = len(rankings)
        detail["ranking_rule"] = "label rank:<place in the order of mean places over the annotators, 1 = best>"
    if free_text_by_record:
        detail["free_text"] = free_text_by_record
    version = dataset_version_create(
        dataset=dataset, entries=[tuple(e) for e in out.values()], operation=DatasetVersion.Operation.ANNOTATION_EXPORT,
        created_by=created_by, parent=source, seed=source.seed, ratios=source.ratios, operation_detail=detail,
        note=f"annotations of project {project.name!r}",
    )
    # The free-text answers stay on the version only; the history row names how many records have some.
    logged = {**detail, "free_text": len(free_text_by_record)} if free_text_by_record else detail
    history_record(
        actor=created_by,
        target=project,
        verb="exported",
        after={"version": version.pk, "number": version.number, **logged},
    )
    return version


def preference_aggregate(given: list[str]) -> str:
    """The preference kept for one entry from its annotators' a / b / tie: the most given, "tie" when the top is
    shared."""
    counts = Counter(given).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return "tie"
    return counts[0][0]


def _swapped_records(*, dataset, entry_ids: list[int]) -> dict[int, int]:
    """A child record per entry whose annotators prefer B: chosen and rejected swapped. Returns entry id -> record id;
    entries whose record has not two answers are left as they are."""
    if not entry_ids:
        return {}
    built: dict[int, Record] = {}
    for entry in VersionRecord.objects.filter(pk__in=entry_ids).select_related("record"):
        original = entry.record
        if original.kind != Record.Kind.PREFERENCE or not (original.chosen and original.rejected):
            continue
        row = {
            "kind": original.kind,
            "messages": original.messages,
            "chosen": original.rejected,
            "rejected": original.chosen,
        }
        clean = canonical_validate(row, where=f"record {original.pk}: ")
        built[entry.pk] = record_build(
            dataset=dataset,
            clean=clean,
            source=original.source,
            origin="annotation",
            parent=original,
            tags=list(original.tags or []),
        )
    if not built:
        return {}
    by_hash = records_insert_ids(dataset=dataset, records=list(built.values()))
    return {entry_id: by_hash[record.content_hash] for entry_id, record in built.items()}


def _corrected_records(*, dataset, corrections: dict[int, str]) -> dict[int, int]:
    """Create a child record per corrected entry; returns entry id -> the record id that replaces the original."""
    corrections = {entry_id: text for entry_id, text in corrections.items() if text}
    if not corrections:
        return {}
    originals = {
        entry.pk: entry.record for entry in VersionRecord.objects.filter(pk__in=corrections).select_related("record")
    }
    built: dict[int, Record] = {}
    for entry_id, text in corrections.items():
        original = originals[entry_id]
        row = {"kind": original.kind, "messages": original.messages[:-1] + [{"role": "assistant", "content": text}]}
        if original.tools:
            row["tools"] = original.tools
        if original.kind == Record.Kind.KTO:
            row["label"] = original.label
        clean = canonical_validate(row, where=f"record {original.pk}: ")
        built[entry_id] = record_build(
            dataset=dataset,
            clean=clean,
            source=original.source,
            origin="annotation",
            parent=original,
            tags=list(original.tags or []),
        )
    # Content the dataset already held was not inserted again; either way the row with that content is the one to use.
    by_hash = records_insert_ids(dataset=dataset, records=list(built.values()))
    return {entry_id: by_hash[record.content_hash] for entry_id, record in built.items()}
