"""A study's votes as DPO preference pairs (prompt / chosen / rejected) in a new dataset version."""

from collections import Counter

from django.db import transaction

from common.errors import ApplicationError
from common.history import history_record
from datahub.models import DatasetVersion, Record
from datahub.services.datasets import dataset_create
from datahub.services.records import records_bulk_create
from datahub.services.versions import dataset_version_create
from evaluation.models import Comparison, Study, Vote
from evaluation.queue import votes_counted


def _majority(choices: Counter) -> str | None:
    """"left" or "right" by the decisive votes' majority; None when they split evenly or none was decisive."""
    left, right = choices[Vote.Choice.LEFT], choices[Vote.Choice.RIGHT]
    return None if left == right else Vote.Choice.LEFT if left > right else Vote.Choice.RIGHT


@transaction.atomic
def study_votes_export(*, study: Study, dataset_name: str, created_by=None) -> DatasetVersion:
    """Every voted comparison of `study` as one preference record in a new dataset of the study's workspace, frozen
    as its version 1. Returns the version.

    The votes are those the results count (votes_counted: no gold, no side-swapped repeat, no rater the product manager
    left out). One pair per comparison, by the majority of its decisive votes (left/right); comparisons whose decisive
    votes split evenly, or that got only ties and "both bad", give no pair: a DPO pair needs a preferred answer. Pairs
    keep the split their prompt came from (a study over a test split exports test pairs, so the test set does not leak
    into training unless someone moves it on purpose); pairs from uploaded prompts go to train.
    """
    votes = votes_counted(study=study).values_list("comparison_id", "choice")
    tallies: dict[int, Counter] = {}
    for comparison_id, choice in votes:
        tallies.setdefault(comparison_id, Counter())[choice] += 1
    winners = {cid: side for cid, tally in tallies.items() if (side := _majority(tally)) is not None}
    if not winners:
        raise ApplicationError(
            "no comparison of this study has a preferred answer yet (only ties, or no votes)", where="study"
        )
    comparisons = (
        Comparison.objects.filter(pk__in=winners)
        .select_related("prompt", "left_answer", "right_answer")
        .order_by("order")
    )
    rows = []
    for comparison in comparisons:
        preferred, other = (
            (comparison.left_answer, comparison.right_answer)
            if winners[comparison.pk] == Vote.Choice.LEFT
            else (comparison.right_answer, comparison.left_answer)
        )
        if not preferred.text.strip() or not other.text.strip():
            continue  # an empty answer is no preference record (the canonical format refuses it)
        rows.append({"kind": "preference", "messages": comparison.prompt.messages,
                     "chosen": {"role": "assistant", "content": preferred.text},
                     "rejected": {"role": "assistant", "content": other.text}})
    if not rows:
        raise ApplicationError("every preferred pair of this study has an empty answer", where="study")
    dataset = dataset_create(
        workspace=study.workspace,
        name=dataset_name,
        description=f"preference pairs from the votes of study {study.name!r}",
        created_by=created_by,
    )
    records_bulk_create(dataset=dataset, rows=rows, origin="evaluation")
    split = study.split if study.dataset_version_id else "train"
    entries = [
        (pk, split, []) for pk in Record.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True)
    ]
    version = dataset_version_create(
        dataset=dataset,
        entries=entries,
        operation=DatasetVersion.Operation.EVALUATION_VOTES,
        created_by=created_by,
        operation_detail={"study": study.pk, "pairs": len(entries)},
        note=f"votes of study {study.name!r} as DPO pairs",
    )
    history_record(actor=created_by, target=study, verb="exported", after={"dataset": dataset.pk, "version": version.pk,
                                                                           "pairs": len(entries)})
    return version
