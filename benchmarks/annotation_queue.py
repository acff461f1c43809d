"""The annotation queue under load: concurrent annotators, each a separate process with its own PostgreSQL connection,
claim the next item and submit it as fast as they can for a fixed time.

    .venv/bin/python benchmarks/annotation_queue.py [--tasks N] [--annotators N] [--overlap N] [--seconds S] [--think-ms MS]

Builds a throwaway database `whet_bench_annotation_queue` on the local PostgreSQL (dropped and made anew on each run),
fills a project with N tasks by set-based SQL (the services would spend minutes on a million rows that the claim never
reads), then runs the real services: annotation.services.assignment_claim_next and annotation_submit.
Prints progress on stderr and ONE JSON line last on stdout: p50/p95/p99 of claim and submit in milliseconds, submits per
second, and `over_assigned`, the number of tasks holding more live assignments or submissions than the project's overlap
(must be 0).
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "whet_bench_annotation_queue"
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://root@127.0.0.1:5432/postgres")


def say(message: str) -> None:
    print(f"[annotation_queue] {message}", file=sys.stderr, flush=True)


def database_recreate() -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{DB_NAME}"


def django_start(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


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
    project = AnnotationProject.objects.create(workspace=workspace, name="Bench", dataset_version=version, schema=schema,
                                               overlap=overlap, lease_seconds=600, created_by=manager)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO datahub_record (dataset_id, kind, messages, content_hash, prompt_hash, tags, origin, created_at)
               SELECT %s, 'sft',
                      jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g),
                                        jsonb_build_object('role', 'assistant', 'content', 'Answer ' || g)),
                      md5('c' || g) || md5('C' || g), md5('p' || g) || md5('P' || g), '[]'::jsonb, 'import', now()
               FROM generate_series(1, %s) AS g""", [dataset.pk, tasks])
        cursor.execute(
            """INSERT INTO datahub_versionrecord (version_id, record_id, split, labels)
               SELECT %s, id, 'train', '[]'::jsonb FROM datahub_record WHERE dataset_id = %s ORDER BY id""",
            [version.pk, dataset.pk])
        cursor.execute(
            """INSERT INTO annotation_annotationtask (project_id, entry_id, submitted_count, is_complete, is_gold, gold_labels)
               SELECT %s, id, 0, false, false, '[]'::jsonb FROM datahub_versionrecord WHERE version_id = %s ORDER BY id""",
            [project.pk, version.pk])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    say(f"filled {tasks} tasks in {time.perf_counter() - started:.1f} s")
    leaves = list(Label.objects.filter(schema=schema, children__isnull=True).values_list("pk", flat=True))
    return project.pk, [u.pk for u in users], leaves


def annotator_process(args: tuple, ready, results) -> None:
    """One annotator process: set up, wait at the barrier for all the others, then work; its timings go on `results`."""
    try:
        results.put(annotator_run(args, ready))
    except Exception as error:  # noqa: BLE001 - the parent reports it
        results.put({"claims": [], "submits": [], "errors": 1, "empty": 0, "failure": repr(error)})


def annotator_run(args: tuple, ready) -> dict:
    """Claim, (think), submit, until `seconds` after every annotator is ready. Returns timings in milliseconds."""
    database_url, project_id, user_id, label_ids, seconds, think_ms, index = args
    django_start(database_url)
    import random

    from django.contrib.auth import get_user_model
    from django.db import connections

    from annotation.models import AnnotationProject
    from annotation.services import annotation_submit, assignment_claim_next

    user = get_user_model().objects.get(pk=user_id)
    project = AnnotationProject.objects.select_related("schema", "workspace").get(pk=project_id)
    rng = random.Random(index)
    claims, submits, errors, empty = [], [], 0, 0
    ready.wait()
    deadline = time.time() + seconds
    cpu_started = time.process_time()
    while time.time() < deadline:
        t0 = time.perf_counter()
        try:
            assignment = assignment_claim_next(project=project, annotator=user)
        except Exception as error:  # noqa: BLE001 - counted and shown; the run goes on
            errors += 1
            say(f"annotator {index} claim failed: {error!r}")
            continue
        t1 = time.perf_counter()
        claims.append((t1 - t0) * 1000)
        if assignment is None:
            empty += 1
            break
        if think_ms:
            time.sleep(rng.uniform(0, 2 * think_ms) / 1000)
        t2 = time.perf_counter()
        try:
            annotation_submit(assignment=assignment, label_ids=[rng.choice(label_ids)], time_spent_ms=1, submitted_by=user)
        except Exception as error:  # noqa: BLE001
            errors += 1
            say(f"annotator {index} submit failed: {error!r}")
            continue
        submits.append((time.perf_counter() - t2) * 1000)
    cpu_ms = (time.process_time() - cpu_started) * 1000
    connections.close_all()
    return {"claims": claims, "submits": submits, "errors": errors, "empty": empty, "cpu_ms": cpu_ms}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


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
    parser.add_argument("--overlap", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the annotators work")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause between claim and submit (0: none)")
    options = parser.parse_args()
    if options.tasks < 1 or options.annotators < 1 or options.overlap < 1 or options.seconds <= 0:
        raise SystemExit("annotation_queue: --tasks, --annotators and --overlap must be at least 1, --seconds above 0")

    database_url = database_recreate()
    django_start(database_url)
    from django.core.management import call_command
    from django.db import connections

    say(f"migrating {DB_NAME}")
    call_command("migrate", verbosity=0)
    project_id, user_ids, label_ids = project_build(tasks=options.tasks, annotators=options.annotators, overlap=options.overlap)
    connections.close_all()

    say(f"starting {options.annotators} annotator processes, overlap {options.overlap}, {options.seconds:.0f} s of work")
    context = multiprocessing.get_context("spawn")
    # Every process has set Django up and connected before the clock starts, however long starting 50 of them takes.
    ready = context.Barrier(options.annotators + 1)
    queue = context.Queue()
    processes = [context.Process(target=annotator_process, args=((database_url, project_id, user_id, label_ids, options.seconds,
                                                                  options.think_ms, i), ready, queue))
                 for i, user_id in enumerate(user_ids)]
    for process in processes:
        process.start()
    ready.wait()
    started = time.time()
    say("all annotators ready; working")
    results = [queue.get() for _ in processes]
    elapsed = time.time() - started
    for process in processes:
        process.join()
    for failure in {r["failure"] for r in results if "failure" in r}:
        say(f"an annotator process failed: {failure}")

    claims = [ms for r in results for ms in r["claims"]]
    submits = [ms for r in results for ms in r["submits"]]
    over = over_assigned_count(project_id)
    summary = {
        "tasks": options.tasks, "annotators": options.annotators, "overlap": options.overlap, "seconds": round(elapsed, 1),
        "think_ms": options.think_ms, "claims": len(claims), "submits": len(submits),
        "errors": sum(r["errors"] for r in results),
        "claim_p50_ms": round(percentile(claims, 50), 2), "claim_p95_ms": round(percentile(claims, 95), 2),
        "claim_p99_ms": round(percentile(claims, 99), 2),
        "submit_p50_ms": round(percentile(submits, 50), 2), "submit_p95_ms": round(percentile(submits, 95), 2),
        "submit_p99_ms": round(percentile(submits, 99), 2),
        "claim_mean_ms": round(statistics.fmean(claims), 2) if claims else 0.0,
        "submits_per_s": round(len(submits) / elapsed, 1), "over_assigned": over,
        # CPU the annotator processes (Django + the ORM, not PostgreSQL) spent per claim + submit: on a shared 2-core
        # machine this, not the queue, sets the ceiling on submits per second.
        "client_cpu_ms_per_submit": round(sum(r.get("cpu_ms", 0) for r in results) / max(1, len(submits)), 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }
    connections.close_all()
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
