"""The queue under real concurrency: threads with their own PostgreSQL connections claim from one project."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from annotation.models import Assignment
from annotation.services import annotation_submit, assignment_claim_next
from annotation.tests.fixtures import label_id

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks with SKIP LOCKED need PostgreSQL"),
]

THREADS = 8


def _run_in_threads(work, count: int) -> list:
    results, errors = [None] * count, []
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001 - reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_concurrent_claims_never_give_a_task_twice(annotation_project_factory, make_user, workspace):
    project = annotation_project_factory(n=30)
    annotators = [make_user(f"crowd{i}", role="crowd_annotator", workspace=workspace) for i in range(THREADS)]
    label = label_id(project.schema, "billing/refund")

    def drain(i):
        """Claim and submit until the queue is empty; return the tasks this annotator got."""
        got = []
        while (assignment := assignment_claim_next(project=project, annotator=annotators[i])) is not None:
            got.append(assignment.task_id)
            annotation_submit(assignment=assignment, label_ids=[label], time_spent_ms=1, submitted_by=annotators[i])
        return got

    claimed = [task for got in _run_in_threads(drain, THREADS) for task in got]
    assert sorted(claimed) == sorted(project.tasks.values_list("pk", flat=True))
    assert max(Counter(claimed).values()) == 1
    assert project.tasks.filter(is_complete=True, submitted_count=1).count() == 30


def test_concurrent_first_claims_take_distinct_tasks(annotation_project_factory, make_user, workspace):
    project = annotation_project_factory(n=THREADS - 2)
    annotators = [make_user(f"staff{i}", role="staff_annotator", workspace=workspace) for i in range(THREADS)]
    results = _run_in_threads(
        lambda i: getattr(assignment_claim_next(project=project, annotator=annotators[i]), "task_id", None), THREADS
    )
    taken = [task for task in results if task is not None]
    assert sorted(taken) == sorted(project.tasks.values_list("pk", flat=True))
    assert results.count(None) == 2
    assert Assignment.objects.filter(status="active").count() == THREADS - 2


def test_concurrent_claims_with_overlap_fill_each_slot_once(annotation_project_factory, make_user, workspace):
    project = annotation_project_factory(n=4, overlap=3)
    annotators = [make_user(f"expert{i}", role="expert_annotator", workspace=workspace) for i in range(THREADS)]

    def claim_all(i):
        got = []
        while (assignment := assignment_claim_next(project=project, annotator=annotators[i])) is not None:
            got.append((assignment.task_id, assignment.slot))
            annotation_submit(
                assignment=assignment,
                label_ids=[label_id(project.schema, "account/login")],
                time_spent_ms=1,
                submitted_by=annotators[i],
            )
        return got

    slots = [slot for got in _run_in_threads(claim_all, THREADS) for slot in got]
    assert len(slots) == 12
    assert len(set(slots)) == 12
    assert project.tasks.filter(is_complete=True, submitted_count=3).count() == 4


def test_prefetch_heartbeat_and_submit_together_never_over_assign(annotation_project_factory, make_user, workspace):
    """Annotators lease ahead, renew and submit at once: every slot is filled once and no lock waits in a cycle."""
    from annotation.services import assignment_heartbeat, assignment_prefetch

    project = annotation_project_factory(n=24, overlap=2)
    annotators = [make_user(f"prefetch{i}", role="crowd_annotator", workspace=workspace) for i in range(THREADS)]
    label = label_id(project.schema, "billing/invoice")

    def work(i):
        got = []
        while held := assignment_prefetch(project=project, annotator=annotators[i]):
            assignment_heartbeat(assignment=held[0], annotator=annotators[i])
            annotation_submit(assignment=held[0], label_ids=[label], time_spent_ms=1, submitted_by=annotators[i])
            got.append((held[0].task_id, held[0].slot, i))
        return got

    done = [row for got in _run_in_threads(work, THREADS) for row in got]
    assert len(done) == 48
    assert len({(task, slot) for task, slot, _ in done}) == 48
    assert len({(task, who) for task, _, who in done}) == 48
    assert project.tasks.filter(is_complete=True, submitted_count=2).count() == 24
    assert Assignment.objects.filter(status="active").count() == 0
