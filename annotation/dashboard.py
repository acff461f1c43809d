"""A project's quality figures: the dashboard (progress, throughput, time per item, agreement on labels, ratings, A/B
choices and rankings, gold accuracy, a row per annotator) and agreement over time. Reads only; a fixed number of
queries per figure, whatever the project's size."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from annotation.models import Annotation, AnnotationProject
from annotation.selectors import ProjectProgress, project_progress, review_counts
from common.errors import ApplicationError
from common.statistics import fleiss_kappa, kendall_tau, krippendorff_alpha, path_distance


@dataclass
class AnnotatorRow:
    username: str
    kind: str
    submitted: int
    gold_n: int
    gold_accuracy: float | None
    agreement_n: int
    agreement: float | None
    median_ms: int
    # Agreement with the people: the share of this annotator's items where their answer equals the most common answer of
    # the other, human annotators of the item (items without another human answer do not count).
    human_agreement_n: int = 0
    human_agreement: float | None = None
    # Ranking items: the mean Kendall tau-b of this annotator's rankings with the other annotators' of the same items.
    ranking_tau: float | None = None
    # Rated items: the mean absolute difference between this annotator's rating and the mean rating of the other, human
    # annotators of the item (items no other person rated do not count); how far an AI's ratings sit from people's.
    rating_gap: float | None = None

    @property
    def is_ai(self) -> bool:
        return self.kind == Annotation.AnnotatorKind.AI


@dataclass
class ProjectDashboard:
    progress: ProjectProgress
    throughput: list[tuple[str, int]]
    times_ms: list[int]
    median_ms: int
    alpha_nominal: float | None
    alpha_path: float | None
    fleiss: float | None
    units: int
    gold_n: int
    gold_accuracy: float | None
    annotators: list[AnnotatorRow]
    reviews: dict[str, dict[str, int]]
    period: str = "week"
    agreement_over_time: list["AgreementPoint"] = field(default_factory=list)
    # On a schema with a rating: items with several ratings, and Krippendorff's alpha on them as ordinal and interval
    # data.
    rating_units: int = 0
    alpha_rating_ordinal: float | None = None
    alpha_rating_interval: float | None = None
    # On a schema with a pairwise question: items with several preferences, and Krippendorff's alpha (nominal, a/b/tie).
    pairwise_units: int = 0
    alpha_pairwise: float | None = None
    # On a schema with a ranking question: items ranked by several annotators, and the mean Kendall tau-b over every
    # pair of their rankings (1: the same order, -1: reversed).
    ranking_units: int = 0
    ranking_tau: float | None = None


AGREEMENT_PERIODS = ("day", "week")


@dataclass
class AgreementPoint:
    start: date
    items: int
    alpha: float | None


def agreement_timeline(answers_by_task: dict[int, list[tuple[datetime, str]]], *, period: str) -> list[AgreementPoint]:
    """Krippendorff's alpha (nominal, on the chosen label sets) per day or week (weeks start on Monday), oldest first.

    Each item with several annotations counts in the period of its last annotation, when it became comparable; periods
    without such items are left out. `answers_by_task`: task id -> [(submitted at, answer)]."""
    if period not in AGREEMENT_PERIODS:
        raise ApplicationError(f"must be one of {', '.join(AGREEMENT_PERIODS)}", where="period")
    units: dict[date, list[list[str]]] = {}
    for answers in answers_by_task.values():
        if len(answers) < 2:
            continue
        day = timezone.localdate(max(at for at, _ in answers))
        start = day - timedelta(days=day.weekday()) if period == "week" else day
        units.setdefault(start, []).append([answer for _, answer in answers])
    return [AgreementPoint(start=start, items=len(unit_list), alpha=krippendorff_alpha(unit_list))
            for start, unit_list in sorted(units.items())]


def agreement_over_time(*, project: AnnotationProject, period: str = "week") -> list[AgreementPoint]:
    """The project's agreement per day or week (see agreement_timeline); two queries."""
    rows = list(Annotation.objects.filter(task__project=project).values_list("pk", "task_id", "created_at"))
    answers = _answers_by_annotation(project=project)
    by_task: dict[int, list[tuple[datetime, str]]] = {}
    for pk, task_id, created_at in rows:
        by_task.setdefault(task_id, []).append((created_at, answers.get(pk, "")))
    return agreement_timeline(by_task, period=period)


def _answers_by_annotation(*, project: AnnotationProject) -> dict[int, str]:
    """annotation id -> its chosen label paths, sorted and joined with "|" (one value per label set)."""
    from annotation.services.schema_moves import label_path_mapper, path_in_current

    # Labels of versions the project moved away from are compared under their current paths.
    mapper = label_path_mapper(project=project)
    paths: dict[int, list[str]] = {}
    for annotation_id, schema_id, path in Annotation.labels.through.objects.filter(
        annotation__task__project=project
    ).values_list("annotation_id", "label__schema_id", "label__path"):
        current = path_in_current(mapper, schema_id, path, project.schema_id) if mapper else path
        paths.setdefault(annotation_id, []).append(current if current is not None else path)
    return {pk: "|".join(sorted(chosen)) for pk, chosen in paths.items()}


DASHBOARD_TIMES = 5000


def project_dashboard(*, project: AnnotationProject, period: str = "week") -> ProjectDashboard:
    """Progress, submissions per hour, time per item, agreement (Krippendorff's alpha on the chosen label sets, and
    path-aware on single-choice trees; Fleiss' kappa when every multi-annotated item has the same number of
    annotations), gold accuracy and a row per annotator. A fixed number of queries; reads every annotation of the
    project."""
    from statistics import median

    from django.db.models.functions import TruncHour

    annotations = Annotation.objects.filter(task__project=project)
    throughput = [
        (hour.isoformat(), n)
        for hour, n in annotations.annotate(hour=TruncHour("created_at"))
        .values_list("hour")
        .annotate(n=Count("pk"))
        .order_by("hour")
    ]
    rows = list(
        annotations.order_by("pk").values_list(
            "pk",
            "task_id",
            "annotator_id",
            "annotator__username",
            "annotator_kind",
            "time_spent_ms",
            "gold_correct",
            "created_at",
        )
    )
    chosen = _answers_by_annotation(project=project)
    answer = {pk: chosen.get(pk, "") for pk, *_ in rows}
    by_task: dict[int, list[tuple[int, str]]] = {}
    dated: dict[int, list[tuple[datetime, str]]] = {}
    for pk, task_id, annotator_id, *_, created_at in rows:
        by_task.setdefault(task_id, []).append((annotator_id, answer[pk]))
        dated.setdefault(task_id, []).append((created_at, answer[pk]))
    timeline = agreement_timeline(dated, period=period)
    units = [[value for _, value in answers] for answers in by_task.values() if len(answers) > 1]
    alpha_nominal = krippendorff_alpha(units) if units else None
    alpha_path = krippendorff_alpha(units, distance=path_distance) if units and not project.schema.multiple else None
    fleiss = None
    if units and len({len(unit) for unit in units}) == 1:
        categories = sorted({value for unit in units for value in unit})
        fleiss = fleiss_kappa([[unit.count(c) for c in categories] for unit in units])
    majority = {
        task_id: Counter(value for _, value in answers).most_common(1)[0]
        for task_id, answers in by_task.items()
        if len(answers) > 1
    }

    human_answers: dict[int, list[tuple[int, str]]] = {}
    for pk, task_id, annotator_id, _, kind, *_ in rows:
        if kind != Annotation.AnnotatorKind.AI:
            human_answers.setdefault(task_id, []).append((annotator_id, answer[pk]))
    ranking_units, ranking_tau, ranking_by_annotator = ranking_agreement(project=project)
    rating_units, alpha_ordinal, alpha_interval, rating_gaps = _rating_agreement(project=project)
    per_annotator: dict[str, dict] = {}
    for pk, task_id, annotator_id, username, kind, time_ms, gold, _ in rows:
        row = per_annotator.setdefault(
            username, {"id": annotator_id, "kind": kind, "n": 0, "gold": [], "agree": [], "times": [], "human": []}
        )
        others = [value for other, value in human_answers.get(task_id, []) if other != annotator_id]
        if others:
            row["human"].append(answer[pk] == Counter(others).most_common(1)[0][0])
        row["n"] += 1
        row["times"].append(time_ms)
        if gold is not None:
            row["gold"].append(gold)
        if task_id in majority:
            value, count = majority[task_id]
            row["agree"].append(count > 1 and answer[pk] == value)
    annotators = [
        AnnotatorRow(
            username=name,
            kind=row["kind"],
            submitted=row["n"],
            gold_n=len(row["gold"]),
            gold_accuracy=sum(row["gold"]) / len(row["gold"]) if row["gold"] else None,
            agreement_n=len(row["agree"]),
            agreement=sum(row["agree"]) / len(row["agree"]) if row["agree"] else None,
            median_ms=int(median(row["times"])),
            human_agreement_n=len(row["human"]),
            human_agreement=sum(row["human"]) / len(row["human"]) if row["human"] else None,
            ranking_tau=ranking_by_annotator.get(row["id"]),
            rating_gap=rating_gaps.get(row["id"]),
        )
        for name, row in sorted(per_annotator.items())
    ]
    pairwise_units, alpha_pairwise = _pairwise_agreement(project=project)
    gold = [g for *_, g, _ in rows if g is not None]
    times = [time_ms for *_, time_ms, _, _ in rows]
    return ProjectDashboard(
        progress=project_progress(project=project),
        throughput=throughput,
        times_ms=times[-DASHBOARD_TIMES:],
        median_ms=int(median(times)) if times else 0,
        alpha_nominal=alpha_nominal,
        alpha_path=alpha_path,
        fleiss=fleiss,
        units=len(units),
        gold_n=len(gold),
        gold_accuracy=sum(gold) / len(gold) if gold else None,
        annotators=annotators,
        reviews=review_counts(project=project),
        period=period,
        agreement_over_time=timeline,
        rating_units=rating_units,
        alpha_rating_ordinal=alpha_ordinal,
        alpha_rating_interval=alpha_interval,
        pairwise_units=pairwise_units,
        alpha_pairwise=alpha_pairwise,
        ranking_units=ranking_units,
        ranking_tau=ranking_tau,
    )


def _rating_agreement(*, project: AnnotationProject) -> tuple[int, float | None, float | None, dict[int, float]]:
    """(items with several ratings, ordinal alpha, interval alpha, annotator id -> rating gap to people, see
    AnnotatorRow.rating_gap) of the project's ratings; one query, and none when the project's schema asks for no
    rating."""
    if not project.schema.rating_scale:
        return 0, None, None, {}
    rated = list(Annotation.objects.filter(task__project=project, rating__isnull=False).values_list(
        "task_id", "annotator_id", "annotator_kind", "rating"))
    by_task: dict[int, list[tuple[int, str, int]]] = {}
    for task_id, annotator_id, kind, rating in rated:
        by_task.setdefault(task_id, []).append((annotator_id, kind, rating))
    gaps: dict[int, list[float]] = {}
    for task_id, annotator_id, _, rating in rated:
        people = [
            r for other, kind, r in by_task[task_id] if other != annotator_id and kind != Annotation.AnnotatorKind.AI
        ]
        if people:
            gaps.setdefault(annotator_id, []).append(abs(rating - sum(people) / len(people)))
    gap = {annotator: sum(values) / len(values) for annotator, values in gaps.items()}
    units = [[rating for *_, rating in ratings] for ratings in by_task.values() if len(ratings) > 1]
    if not units:
        return 0, None, None, gap
    return len(units), krippendorff_alpha(units, level="ordinal"), krippendorff_alpha(units, level="interval"), gap


def _pairwise_agreement(*, project: AnnotationProject) -> tuple[int, float | None]:
    """(items with several preferences, nominal alpha over a / b / tie); one query, and none when the project's schema
    asks no pairwise question."""
    if not project.schema.pairwise_question:
        return 0, None
    by_task: dict[int, list[str]] = {}
    for task_id, preference in Annotation.objects.filter(task__project=project).exclude(preference="").values_list(
            "task_id", "preference"):
        by_task.setdefault(task_id, []).append(preference)
    units = [given for given in by_task.values() if len(given) > 1]
    if not units:
        return 0, None
    return len(units), krippendorff_alpha(units, level="nominal")


def ranking_agreement(*, project: AnnotationProject) -> tuple[int, float | None, dict[int, float]]:
    """(items ranked by several annotators, the mean Kendall tau-b over every pair of rankings of one item, annotator id
    -> the mean tau of their rankings with the others' of the same items); one query, and none when the project's
    schema asks for no ranking."""
    if not project.schema.ranking_question:
        return 0, None, {}
    by_task: dict[int, list[tuple[int, list[int]]]] = {}
    for task_id, annotator_id, ranking in (
        Annotation.objects.filter(task__project=project)
        .exclude(ranking=[])
        .values_list("task_id", "annotator_id", "ranking")
    ):
        by_task.setdefault(task_id, []).append((annotator_id, ranking))
    return ranking_taus(by_task)


def ranking_taus(by_task: dict[int, list[tuple[int, list[int]]]]) -> tuple[int, float | None, dict[int, float]]:
    """The figures of ranking_agreement from task id -> [(annotator id, entry ids best first)]."""
    from itertools import combinations

    taus: list[float] = []
    mine: dict[int, list[float]] = {}
    units = 0
    for rankings in by_task.values():
        if len(rankings) < 2:
            continue
        units += 1
        for (first, a), (second, b) in combinations(rankings, 2):
            place_a, place_b = {e: i for i, e in enumerate(a)}, {e: i for i, e in enumerate(b)}
            tau = kendall_tau([place_a[e] for e in a], [place_b.get(e, len(b)) for e in a])
            if tau is None:
                continue
            taus.append(tau)
            mine.setdefault(first, []).append(tau)
            mine.setdefault(second, []).append(tau)
    mean = sum(taus) / len(taus) if taus else None
    return units, mean, {annotator: sum(values) / len(values) for annotator, values in mine.items()}
