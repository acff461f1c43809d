"""The annotation queue under load: concurrent annotators, each with its own PostgreSQL connection, claim the next item,
spend a person's time on it and submit it, for a fixed time.

    .venv/bin/python benchmarks/annotation_queue.py [--tasks N] [--annotators N] [--processes N] [--overlap N]
                                                     [--seconds S] [--think-ms MS]

Annotators are threads spread over a few client processes (default 5): 50 processes of Django would take the two
cores from the PostgreSQL server being measured. Each thinks 0.5-1.5 x --think-ms per item (default 3 s; a person
reading an LLM answer takes longer); --think-ms 0 is a stress test where latency is queueing for the CPU.

Builds a throwaway database `whet_bench_annotation_queue` on the local PostgreSQL (dropped and made anew on each run),
fills a project with N tasks by set-based SQL (the services would spend minutes on a million rows that the claim never
reads), then runs the real services: annotation.services.assignment_claim_next and annotation_submit.
Prints progress on stderr and ONE JSON line last on stdout: p50/p95/p99 of claim and submit in milliseconds, submits per
second, statements per claim and per submit, and `over_assigned`, the number of tasks holding more live assignments or
submissions than the project's overlap (must be 0).
"""

import argparse
import json
import multiprocessing
import os
import statistics
import time

from harness import database_recreate, django_start, percentile, say_as

DB_NAME = "whet_bench_annotation_queue"
say = say_as("annotation_queue")


def project_build(*, tasks: int, annotators: int, overlap: int) -> tuple[int, list[int], list[int]]:
    """A project with `tasks` items and `annotators` crowd users; returns (project id, user ids, leaf label ids)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from accounts.models import Membership, Role, Workspace
    from annotation.models import AnnotationProject, Label
    from annotation.services import label_schema_create
    from datahub.models import Dataset, DatasetVersion

    User = get_user_model()
    workspace = Workspace.objects.create(name="Bench")
    manager = User.objects.create_user(username="manager", password="x")
    Membership.objects.create(user=manager, workspace=workspace, role=Role.ADMIN)
    users = User.objects.bulk_create([User(username=f"crowd{i}") for i in range(annotators)])
    Membership.objects.bulk_create([Membership(user=u, workspace=workspace, role=Role.CROWD_ANNOTATOR) for u in users])
    schema = label_schema_create(workspace=workspace, name="Topic", created_by=manager, tree=[
        {"name": "billing", "children": [{"name": "refund"}, {"name": "invoice"}]},
        {"name": "account", "children": [{"name": "login"}, {"name": "delete"}]},
    ])
    dataset = Dataset.objects.create(workspace=workspace, name="Bench chats")
    version = DatasetVersion.objects.create(dataset=dataset, number=1, manifest_hash="0" * 64, counts={"train": tasks},
                                            ratios={"train": 1.0})
    project = AnnotationProject.objects.create(
        workspace=workspace,
        name="Bench",
        dataset_version=version,
        schema=schema,
        overlap=overlap,
        lease_seconds=600,
        created_by=manager,
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO datahub_record (dataset_id, kind, messages, content_hash, prompt_hash, tags, origin, created_at)
               SELECT %s, 'sft',
                      jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g),
                                        jsonb_build_object('role', 'assistant', 'content', 'Answer ' || g)),
                      md5('c' || g) || md5('C' || g), md5('p' || g) || md5('P' || g), '[]'::jsonb, 'import', now()
               FROM generate_series(1, %s) AS g""",
            [dataset.pk, tasks],
        )
        cursor.execute(
            """INSERT INTO datahub_versionrecord (version_id, record_id, split, labels)
               SELECT %s, id, 'train', '[]'::jsonb FROM datahub_record WHERE dataset_id = %s ORDER BY id""",
            [version.pk, dataset.pk])
        cursor.execute(
            """INSERT INTO annotation_annotationtask (project_id, entry_id, submitted_count, is_complete, is_gold, gold_labels,
                                                      candidates)
               SELECT %s, id, 0, false, false, '[]'::jsonb, '[]'::jsonb FROM datahub_versionrecord WHERE version_id = %s ORDER BY id""",
            [project.pk, version.pk],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    say(f"filled {tasks} tasks in {time.perf_counter() - started:.1f} s")
    leaves = list(Label.objects.filter(schema=schema, children__isnull=True).values_list("pk", flat=True))
    return project.pk, [u.pk for u in users], leaves


def annotator_process(args: tuple, ready, results) -> None:
    """One client process simulating several annotators, each a thread with its own PostgreSQL connection. Few processes
    and mostly sleeping threads keep the clients from taking the two cores away from the server they measure."""
    database_url, project_id, user_ids, label_ids, seconds, think_ms, first_index = args
    try:
        django_start(database_url)
        import threading

        outcomes: list[dict] = []
        ready.wait()
        deadline = time.time() + seconds
        threads = [threading.Thread(target=lambda i=i, user_id=user_id: outcomes.append(
                       annotator_run(project_id, user_id, label_ids, think_ms, first_index + i, deadline)))
                   for i, user_id in enumerate(user_ids)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results.put(outcomes)
    except Exception as error:  # noqa: BLE001 - the parent reports it
        results.put([{"claims": [], "submits": [], "errors": 1, "empty": 0, "failure": repr(error)}])


def annotator_run(
    project_id: int, user_id: int, label_ids: list[int], think_ms: float, index: int, deadline: float
) -> dict:
    """Claim, think, submit until `deadline`, like a person at the workbench. Returns timings in milliseconds.

    People do not all press "next" in the same millisecond: each annotator starts after a random part of one think time
    (a team arriving over a few seconds), then thinks for 0.5-1.5 x think_ms per item."""
    import random

    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.models import AnnotationProject
    from annotation.services import annotation_submit, assignment_claim_next

    rng = random.Random(index)
    user = get_user_model().objects.get(pk=user_id)
    project = AnnotationProject.objects.select_related("schema", "workspace").get(pk=project_id)
    claims, submits, errors, empty = [], [], 0, 0
    cpu = {"claim": 0.0, "submit": 0.0}
    if think_ms:
        time.sleep(rng.uniform(0, think_ms) / 1000)
    while time.time() < deadline:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            assignment = assignment_claim_next(project=project, annotator=user)
        except Exception as error:  # noqa: BLE001 - counted and shown; the run goes on
            errors += 1
            say(f"annotator {index} claim failed: {error!r}")
            continue
        claims.append((time.perf_counter() - t0) * 1000)
        cpu["claim"] += (time.thread_time() - c0) * 1000
        if assignment is None:
            empty += 1
            break
        if think_ms:
            time.sleep(rng.uniform(0.5 * think_ms, 1.5 * think_ms) / 1000)
        t2, c2 = time.perf_counter(), time.thread_time()
        try:
            annotation_submit(
                assignment=assignment, label_ids=[rng.choice(label_ids)], time_spent_ms=1, submitted_by=user
            )
        except Exception as error:  # noqa: BLE001
            errors += 1
            say(f"annotator {index} submit failed: {error!r}")
            continue
        submits.append((time.perf_counter() - t2) * 1000)
        cpu["submit"] += (time.thread_time() - c2) * 1000
    connection.close()
    return {"claims": claims, "submits": submits, "errors": errors, "empty": empty, "cpu": cpu}


def queries_per_operation(project_id: int, user_id: int, label_ids: list[int]) -> tuple[int, int]:
    """Statements (BEGIN and COMMIT included) one claim and one submit send to PostgreSQL, counted on a quiet queue
    after one warm-up item (the first submit of a process also reads the schema's labels, once)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotation.models import AnnotationProject
    from annotation.services import annotation_submit, assignment_claim_next

    user = get_user_model().objects.get(pk=user_id)
    project = AnnotationProject.objects.select_related("schema", "workspace").get(pk=project_id)
    warm = assignment_claim_next(project=project, annotator=user)
    annotation_submit(assignment=warm, label_ids=[label_ids[0]], time_spent_ms=1, submitted_by=user)
    with CaptureQueriesContext(connection) as claim:
        assignment = assignment_claim_next(project=project, annotator=user)
    with CaptureQueriesContext(connection) as submit:
        annotation_submit(assignment=assignment, label_ids=[label_ids[0]], time_spent_ms=1, submitted_by=user)
    return len(claim.captured_queries), len(submit.captured_queries)


def over_assigned_count(project_id: int) -> int:
    """Tasks with more live assignments, submissions or annotations than the overlap, or one annotator twice."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM annotation_annotationtask t
               JOIN annotation_annotationproject p ON p.id = t.project_id
               WHERE t.project_id = %s AND (
                 t.submitted_count > p.overlap
                 OR (SELECT count(*) FROM annotation_assignment a
                     WHERE a.task_id = t.id AND a.status IN ('active', 'submitted')) > p.overlap
                 OR (SELECT count(*) FROM annotation_annotation n WHERE n.task_id = t.id) > p.overlap
                 OR (SELECT count(*) FROM annotation_annotation n WHERE n.task_id = t.id) <> t.submitted_count
                 OR EXISTS (SELECT 1 FROM annotation_assignment a WHERE a.task_id = t.id
                            AND a.status IN ('active', 'submitted') GROUP BY a.annotator_id HAVING count(*) > 1))
                 AND t.id IN (SELECT task_id FROM annotation_assignment)""", [project_id])
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument(
        "--processes", type=int, default=5, help="client processes the annotator threads are spread over"
    )
    parser.add_argument("--overlap", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the annotators work")
    parser.add_argument("--think-ms", type=float, default=3000.0,
                        help="mean time a person spends on an item between claim and submit (0: none, a stress test)")
    options = parser.parse_args()
    if (
        options.tasks < 1
        or options.annotators < 1
        or options.overlap < 1
        or options.seconds <= 0
        or options.processes < 1
    ):
        raise SystemExit(
            "annotation_queue: --tasks, --annotators, --processes and --overlap must be at least 1, --seconds above 0"
        )
    if options.think_ms < 0:
        raise SystemExit("annotation_queue: --think-ms must be 0 or more")

    database_url = database_recreate(DB_NAME)
    say(f"migrating {DB_NAME}")
    django_start(database_url, migrate=True)
    from django.db import connections

    project_id, user_ids, label_ids = project_build(
        tasks=options.tasks, annotators=options.annotators + 1, overlap=options.overlap
    )
    probe_user, user_ids = user_ids[-1], user_ids[:-1]
    claim_queries, submit_queries = queries_per_operation(project_id, probe_user, label_ids)
    connections.close_all()

    processes_n = min(options.processes, options.annotators)
    say(f"starting {options.annotators} annotators in {processes_n} processes, overlap {options.overlap}, "
        f"think {options.think_ms:.0f} ms, {options.seconds:.0f} s of work")
    context = multiprocessing.get_context("spawn")
    # Every process has set Django up before the clock starts, however long starting them takes.
    ready = context.Barrier(processes_n + 1)
    queue = context.Queue()
    shares = [user_ids[i::processes_n] for i in range(processes_n)]
    processes = [
        context.Process(
            target=annotator_process,
            args=(
                (database_url, project_id, share, label_ids, options.seconds, options.think_ms, i * 1000),
                ready,
                queue,
            ),
        )
        for i, share in enumerate(shares)
    ]
    for process in processes:
        process.start()
    ready.wait()
    started = time.time()
    load_started = os.getloadavg()[0]
    say("all annotators ready; working")
    results = [outcome for _ in processes for outcome in queue.get()]
    elapsed = time.time() - started
    load_average = os.getloadavg()[0]
    for process in processes:
        process.join()
    for failure in {r["failure"] for r in results if "failure" in r}:
        say(f"an annotator process failed: {failure}")

    claims = [ms for r in results for ms in r["claims"]]
    submits = [ms for r in results for ms in r["submits"]]
    over = over_assigned_count(project_id)
    summary = {
        "benchmark": "annotation_queue",
        "n": options.tasks,
        "tasks": options.tasks,
        "annotators": options.annotators,
        "processes": processes_n,
        "overlap": options.overlap,
        "seconds": round(elapsed, 1),
        "think_ms": options.think_ms,
        "claims": len(claims),
        "submits": len(submits),
        "errors": sum(r["errors"] for r in results),
        "claim_p50_ms": round(percentile(claims, 0.5), 2),
        "claim_p95_ms": round(percentile(claims, 0.95), 2),
        "claim_p99_ms": round(percentile(claims, 0.99), 2),
        "submit_p50_ms": round(percentile(submits, 0.5), 2),
        "submit_p95_ms": round(percentile(submits, 0.95), 2),
        "submit_p99_ms": round(percentile(submits, 0.99), 2),
        "claim_mean_ms": round(statistics.fmean(claims), 2) if claims else 0.0,
        "submits_per_s": round(len(submits) / elapsed, 1),
        "over_assigned": over,
        "claim_queries": claim_queries,
        "submit_queries": submit_queries,
        # The client's own CPU (Django and the ORM) inside each call: the rest of the latency is PostgreSQL, the network
        # and waiting for a core.
        "client_cpu_ms_per_claim": round(
            sum(r.get("cpu", {}).get("claim", 0) for r in results) / max(1, len(claims)), 2
        ),
        "client_cpu_ms_per_submit": round(
            sum(r.get("cpu", {}).get("submit", 0) for r in results) / max(1, len(submits)), 2
        ),
        "target": {"claim_p95_ms": 50, "submit_p95_ms": 50, "over_assigned": 0},
        # Other work on the machine shows up in the latencies: report how busy it was.
        "load_average_1m": [round(load_started, 1), round(load_average, 1)],
        "cpus": os.cpu_count(),
    }
    connections.close_all()
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
