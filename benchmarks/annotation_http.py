"""The annotator's hot path over HTTP: gunicorn with the production settings, annotators claiming and submitting
through the JSON API and through the browser workbench's own requests.

    .venv/bin/python benchmarks/annotation_http.py [--n 100000] [--clients 1,10,25,50] [--seconds 30]
                                                    [--fresh-seconds 60] [--baseline-rev REV] [--quick]
                                                    [--analyze-after-fresh]

For each revision measured (this work tree; with --baseline-rev also REV, checked out in a temporary git worktree and
measured side by side, phase by phase, against the same load), the benchmark:
- makes a PostgreSQL database of its own anew (whet_bench_annotation_http_<tree>), migrates it with that revision's
  code, and builds the workload as a new user would: records and the frozen version by set-based SQL standing in for
  an import (a million rows through the import would take the whole run), then the project through the real
  annotation_project_create, N tasks, one annotator per client, each with an API token and a signed-in session;
- serves it with gunicorn as README "Running in production" says (DEBUG=0, GUNICORN_CMD below);
- runs 10 API clients for --fresh-seconds right after the build: the fresh database, reported apart ("fresh");
- then, for each client count, the JSON API path (POST claim, POST submit) and the workbench path (htmx prefetch,
  htmx submit with session + CSRF, the GET its redirect leads to), each client its own annotator, closed loop (the
  next request when the last answered: a stress test, not a person's pace).
Reported per phase: p50/p95/p99 per request kind, annotations/s, errors, the server's CPU per annotation (user +
system time of the gunicorn processes over the phase), and the machine's 1-minute load average (the machine is
shared); per revision, over_assigned from its database (must be 0). Progress on stderr; ONE JSON line last on stdout,
with flat keys for this tree (annotations_per_s_25, claim_p95_ms_25, submit_p95_ms_25,
workbench_annotations_per_s_25, cpu_ms_per_annotation, over_assigned) and, with --baseline-rev, the baseline's
figures and the ratios (this tree / baseline; for latencies and CPU, baseline / this tree, so above 1 is better).
"""

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from annotation_http_clients import api_annotator, workbench_annotator
from harness import ROOT, database_recreate, free_port, percentile, say_as

say = say_as("annotation_http")
HOST = "127.0.0.1"
# The worker layout README "Running in production" recommends for two cores; see there for why.
GUNICORN_ARGS = ["--workers", "4", "--worker-class", "gthread", "--threads", "4", "--keep-alive", "30", "--preload"]
SERVER_ENV = {"DEBUG": "0", "SECRET_KEY": "bench-" + "k" * 60, "ALLOWED_HOSTS": HOST, "LOG_LEVEL": "WARNING",
              "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def build(root: str, database_url: str, n: int, annotators: int, overlap: int) -> None:
    """Runs in a child process with `root` (the revision measured) first on sys.path; prints the workload as JSON."""
    sys.path.insert(0, root)
    os.chdir(root)
    os.environ.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings", HF_HUB_OFFLINE="1")
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.models import Membership, Role, Workspace
    from accounts.services import api_token_for
    from annotation.models import Label
    from annotation.services import annotation_project_create, label_schema_create
    from datahub.models import Dataset, DatasetVersion

    call_command("migrate", verbosity=0)
    User = get_user_model()
    workspace = Workspace.objects.create(name="Bench")
    manager = User.objects.create_user(username="manager", password=None)
    Membership.objects.create(user=manager, workspace=workspace, role=Role.ADMIN)
    users = User.objects.bulk_create([User(username=f"crowd{i}", password="!") for i in range(annotators)])
    Membership.objects.bulk_create([Membership(user=u, workspace=workspace, role=Role.CROWD_ANNOTATOR) for u in users])
    schema = label_schema_create(workspace=workspace, name="Topic", created_by=manager, tree=[
        {"name": "billing", "children": [{"name": "refund"}, {"name": "invoice"}]},
        {"name": "account", "children": [{"name": "login"}, {"name": "delete"}]},
    ])
    dataset = Dataset.objects.create(workspace=workspace, name="Bench chats")
    version = DatasetVersion.objects.create(dataset=dataset, number=1, manifest_hash="0" * 64, counts={"train": n},
                                            ratios={"train": 1.0})
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO datahub_record (dataset_id, kind, messages, content_hash, prompt_hash, tags, origin,
                                          created_at)
               SELECT %s, 'sft',
                      jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g),
                                        jsonb_build_object('role', 'assistant', 'content', 'Answer ' || g)),
                      md5('c' || g) || md5('C' || g), md5('p' || g) || md5('P' || g), '[]'::jsonb, 'import', now()
               FROM generate_series(1, %s) AS g""",
            [dataset.pk, n])
        cursor.execute(
            """INSERT INTO datahub_versionrecord (version_id, record_id, split, labels)
               SELECT %s, id, 'train', '[]'::jsonb FROM datahub_record WHERE dataset_id = %s ORDER BY id""",
            [version.pk, dataset.pk])
    project = annotation_project_create(workspace=workspace, name="Bench", dataset_version=version, schema=schema,
                                        overlap=overlap, lease_seconds=600, created_by=manager)
    built_s = time.perf_counter() - started
    sessions = []
    for user in users:
        session = SessionStore()
        session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                        HASH_SESSION_KEY: user.get_session_auth_hash()})
        session.create()
        sessions.append(session.session_key)
    label = Label.objects.filter(schema=schema, children__isnull=True).order_by("pk").first()
    print(json.dumps({"project_id": project.pk, "label_id": label.pk, "built_s": round(built_s, 1),
                      "tokens": [api_token_for(user=u) for u in users], "sessions": sessions}))


class Tree:
    """One revision under test: its database, its workload and its gunicorn."""

    def __init__(self, name: str, root: Path):
        self.name, self.root = name, root
        self.database = f"whet_bench_annotation_http_{name}"
        self.server: subprocess.Popen | None = None
        self.port = 0
        self.workload: dict = {}

    def prepare(self, *, n: int, annotators: int, overlap: int) -> None:
        self.database_url = database_recreate(self.database)
        say(f"{self.name}: building {n} tasks in {self.database} ({self.root})")
        done = subprocess.run(
            [sys.executable, __file__, "--build-into", str(self.root), "--database-url", self.database_url,
             "--n", str(n), "--annotators", str(annotators), "--overlap", str(overlap)],
            capture_output=True, text=True, cwd=self.root, env={**os.environ, **SERVER_ENV})
        if done.returncode:
            raise SystemExit(f"{self.name}: the build failed:\n{done.stderr[-3000:]}")
        self.workload = json.loads(done.stdout.strip().splitlines()[-1])
        say(f"{self.name}: records, version and project built in {self.workload['built_s']} s")

    def serve(self, log_dir: Path) -> None:
        import httpx

        self.port = free_port()
        env = {**os.environ, **SERVER_ENV, "DATABASE_URL": self.database_url}
        self.log = log_dir / f"gunicorn-{self.name}.log"
        with open(self.log, "wb") as log:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--chdir", str(self.root),
                 "--bind", f"{HOST}:{self.port}", *GUNICORN_ARGS],
                cwd=self.root, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise SystemExit(f"gunicorn ({self.name}) exited:\n{self.log.read_text(errors='replace')[-2000:]}")
            try:
                httpx.get(f"http://{HOST}:{self.port}/accounts/login/", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise SystemExit(f"gunicorn ({self.name}) did not answer within 120 s")

    def cpu_seconds(self) -> float:
        """User + system time of the gunicorn master and its workers so far."""
        import psutil

        master = psutil.Process(self.server.pid)
        total = 0.0
        for process in [master, *master.children(recursive=True)]:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def over_assigned(self) -> int:
        import psycopg

        with psycopg.connect(self.database_url) as connection:
            return connection.execute(OVER_ASSIGNED_SQL, [self.workload["project_id"]]).fetchone()[0]

    def analyze(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute("ANALYZE")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(timeout=30)


OVER_ASSIGNED_SQL = """
SELECT count(*) FROM annotation_annotationtask t JOIN annotation_annotationproject p ON p.id = t.project_id
 WHERE t.project_id = %s AND t.id IN (SELECT task_id FROM annotation_assignment) AND (
       t.submitted_count > p.overlap
    OR (SELECT count(*) FROM annotation_assignment a WHERE a.task_id = t.id AND a.status IN ('active', 'submitted'))
       > p.overlap
    OR (SELECT count(*) FROM annotation_annotation n WHERE n.task_id = t.id) <> t.submitted_count
    OR EXISTS (SELECT 1 FROM annotation_assignment a WHERE a.task_id = t.id AND a.status IN ('active', 'submitted')
               GROUP BY a.annotator_id HAVING count(*) > 1))"""


def client_process(path: str, port: int, project_id: int, credentials: list[str], label_id: int, start_at: float,
                   seconds: float, results) -> None:
    """Several annotators as threads of one process (a few processes, not fifty: the clients must leave the cores to
    the server they measure)."""
    annotator = api_annotator if path == "api" else workbench_annotator
    outcomes = []
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.time() + seconds
    threads = [threading.Thread(target=lambda c=c: outcomes.append(
        annotator(HOST, port, project_id, c, label_id, deadline))) for c in credentials]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(outcomes)


def run_phase(tree: Tree, *, path: str, clients: int, seconds: float, client_processes: int) -> dict:
    """`clients` annotators on `path` ("api" or "workbench") against `tree` for `seconds`; the phase's figures."""
    credentials = tree.workload["tokens" if path == "api" else "sessions"][:clients]
    processes_n = min(client_processes, clients)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 1.0
    processes = [context.Process(target=client_process, args=(
        path, tree.port, tree.workload["project_id"], credentials[i::processes_n], tree.workload["label_id"],
        start_at, seconds, results)) for i in range(processes_n)]
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before, load_before = tree.cpu_seconds(), os.getloadavg()[0]
    outcomes = [outcome for _ in processes for outcome in results.get()]
    elapsed = time.time() - start_at
    cpu = tree.cpu_seconds() - cpu_before
    for process in processes:
        process.join()
    annotations = sum(o["annotations"] for o in outcomes)
    kinds = sorted({kind for o in outcomes for kind in o["timings"]})
    figures = {"path": path, "clients": clients, "seconds": round(elapsed, 1), "annotations": annotations,
               "annotations_per_s": round(annotations / elapsed, 1), "errors": sum(o["errors"] for o in outcomes),
               "queue_empty": sum(o["empty"] for o in outcomes),
               "cpu_ms_per_annotation": round(cpu * 1000 / max(1, annotations), 2),
               "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)]}
    for kind in kinds:
        values = [ms for o in outcomes for _, ms in o["timings"].get(kind, [])]
        figures[kind] = {"n": len(values), **{f"p{q}_ms": round(percentile(values, q / 100), 1) for q in (50, 95, 99)}}
    samples = [s for o in outcomes for s in o["error_samples"]][:3]
    if samples:
        figures["error_samples"] = samples
    if path == "api":  # so a cliff at the start of a phase shows
        figures["by_quarter"] = quarters(outcomes, start_at, elapsed)
    return figures


def quarters(outcomes: list[dict], start_at: float, elapsed: float) -> list[dict]:
    """Submits per second and claim p99 in each quarter of the phase."""
    out = []
    for q in range(4):
        low, high = start_at + elapsed * q / 4, start_at + elapsed * (q + 1) / 4
        submits = [ms for o in outcomes for t, ms in o["timings"].get("submit", []) if low <= t < high]
        claims = [ms for o in outcomes for t, ms in o["timings"].get("claim", []) if low <= t < high]
        out.append({"submits_per_s": round(len(submits) / (high - low), 1),
                    "claim_p99_ms": round(percentile(claims, 0.99), 1),
                    "submit_p99_ms": round(percentile(submits, 0.99), 1)})
    return out


def describe(tree: Tree, figures: dict) -> str:
    kinds = ", ".join(f"{k} p50/p95/p99 {v['p50_ms']}/{v['p95_ms']}/{v['p99_ms']} ms"
                      for k, v in figures.items() if isinstance(v, dict) and "p95_ms" in v)
    return (f"{tree.name:8} {figures['path']:9} {figures['clients']:>2} clients: {figures['annotations_per_s']:6.1f} "
            f"annotations/s, {figures['errors']} errors, {figures['cpu_ms_per_annotation']} ms CPU/annotation; "
            f"{kinds}; "
            f"load {figures['load_average_1m']}")


def flat(phases: list[dict], fresh: dict, over: int) -> dict:
    """The flat keys of the JSON line for one tree."""
    out = {"over_assigned": over, "fresh_annotations_per_s_10": fresh["annotations_per_s"],
           "fresh_claim_p99_ms_10": fresh["claim"]["p99_ms"] if "claim" in fresh else 0.0}
    for figures in phases:
        c = figures["clients"]
        if figures["path"] == "api":
            out[f"annotations_per_s_{c}"] = figures["annotations_per_s"]
            for kind in ("claim", "submit"):
                for q in (50, 95, 99):
                    out[f"{kind}_p{q}_ms_{c}"] = figures.get(kind, {}).get(f"p{q}_ms", 0.0)
            out[f"cpu_ms_per_annotation_{c}"] = figures["cpu_ms_per_annotation"]
        else:
            out[f"workbench_annotations_per_s_{c}"] = figures["annotations_per_s"]
            out[f"workbench_submit_p95_ms_{c}"] = figures.get("submit", {}).get("p95_ms", 0.0)
            out[f"workbench_page_p95_ms_{c}"] = figures.get("page", {}).get("p95_ms", 0.0)
            out[f"workbench_cpu_ms_per_annotation_{c}"] = figures["cpu_ms_per_annotation"]
    api = [f for f in phases if f["path"] == "api"]
    # The CPU per annotation of the busiest API phase (the server's cost when it is working, not idling).
    out["cpu_ms_per_annotation"] = max(api, key=lambda f: f["clients"])["cpu_ms_per_annotation"] if api else 0.0
    out["errors"] = sum(f["errors"] for f in phases) + fresh["errors"]
    return out


def baseline_worktree(rev: str) -> Path:
    where = Path(tempfile.mkdtemp(prefix="whet-baseline-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev], check=True,
                   capture_output=True)
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="tasks in the project (default 100000)")
    parser.add_argument("--clients", default="1,10,25,50", help="client counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=None, help="length of each phase (default 30)")
    parser.add_argument("--fresh-seconds", type=float, default=None,
                        help="10 API clients right after the build, reported apart (default 60; 0: none)")
    parser.add_argument("--overlap", type=int, default=1)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--paths", default="api,workbench")
    parser.add_argument("--baseline-rev", help="also measure this git revision, side by side")
    parser.add_argument("--analyze-after-fresh", action="store_true",
                        help="ANALYZE every database after its fresh phase, so the later phases compare the web layer "
                             "alone (a baseline without ANALYZE after its bulk steps otherwise keeps planning "
                             "without statistics until autovacuum gets round to it)")
    parser.add_argument("--quick", action="store_true",
                        help="by default 10,000 tasks, 8-second phases, 15 fresh seconds")
    parser.add_argument("--build-into", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--annotators", type=int, default=50, help=argparse.SUPPRESS)
    options = parser.parse_args()
    # --quick changes the defaults only: what is given on the command line stands.
    for name, full, quick in (("n", 100_000, 10_000), ("seconds", 30.0, 8.0), ("fresh_seconds", 60.0, 15.0)):
        if getattr(options, name) is None:
            setattr(options, name, quick if options.quick else full)
    if options.build_into:
        build(options.build_into, options.database_url, options.n, options.annotators, options.overlap)
        return
    client_counts = [int(c) for c in options.clients.split(",")]
    paths = options.paths.split(",")
    trees = [Tree("current", ROOT)]
    if options.baseline_rev:
        trees.append(Tree("baseline", baseline_worktree(options.baseline_rev)))
    log_dir = Path(tempfile.mkdtemp(prefix="annotation-http-"))
    fresh: dict = {}
    phases: dict = {tree.name: [] for tree in trees}
    try:
        for tree in trees:
            tree.prepare(n=options.n, annotators=max(client_counts + [10]), overlap=options.overlap)
            tree.serve(log_dir)
            if options.fresh_seconds:
                fresh[tree.name] = run_phase(tree, path="api", clients=10, seconds=options.fresh_seconds,
                                             client_processes=options.client_processes)
                say("fresh database: " + describe(tree, fresh[tree.name]))
            if options.analyze_after_fresh:
                tree.analyze()
        for index, (clients, path) in enumerate((c, p) for c in client_counts for p in paths):
            # The trees take turns going first, so neither always meets the machine a phase later.
            for tree in trees if index % 2 == 0 else trees[::-1]:
                figures = run_phase(tree, path=path, clients=clients, seconds=options.seconds,
                                    client_processes=options.client_processes)
                phases[tree.name].append(figures)
                say(describe(tree, figures))
        over = {tree.name: tree.over_assigned() for tree in trees}
    finally:
        for tree in trees:
            tree.stop()
        if options.baseline_rev:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees[1].root)],
                           capture_output=True)
            shutil.rmtree(trees[1].root.parent, ignore_errors=True)
    empty = {"annotations_per_s": 0.0, "errors": 0}
    summary = {"benchmark": "annotation_http", "n": options.n, "analyze_after_fresh": options.analyze_after_fresh,
               "clients": client_counts, "seconds": options.seconds,
               "server": "gunicorn " + " ".join(GUNICORN_ARGS), "cpus": os.cpu_count(),
               **flat(phases["current"], fresh.get("current", empty), over["current"])}
    if options.baseline_rev:
        base = flat(phases["baseline"], fresh.get("baseline", empty), over["baseline"])
        summary["baseline_rev"] = options.baseline_rev
        summary["baseline"] = base
        summary["ratio"] = {key: round(summary[key] / base[key], 2) if "per_s" in key else
                            round(base[key] / summary[key], 2) for key in base
                            if key not in ("over_assigned", "errors") and base[key] and summary.get(key)}
    summary["detail"] = {"fresh": fresh, "phases": phases}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
