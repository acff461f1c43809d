"""`manage.py demo`: load the demo workspace, run the whole loop once, then serve the UI with a worker.

import → dedupe → label → export → the base model (the tiny model pretrained on everyday conversation and cached under
var/cache/, or `--model DIR`) → SFT → blind study voted by a simulated rater → simulated shop feedback → the built-in
model server as endpoints. The demo data (demo/data/) is a small bilingual customer-service set written for this
project.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, Workspace
from demo.base_model import DEMO_TRAIN_STEPS, PRETRAIN_STEPS, model_roots_allow
from demo.loop import DEMO_PEOPLE, DEMO_WORKSPACE, demo_loop_run


class Command(BaseCommand):
    help = "Load the demo workspace, run the loop once end to end, then serve the UI at http://127.0.0.1:8000 with a worker."

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="run the loop and exit without serving")
        parser.add_argument("--addr", default="127.0.0.1:8000", help="address to serve on")
        parser.add_argument(
            "--train-steps", type=int, default=DEMO_TRAIN_STEPS, help="optimizer steps of the demo SFT run"
        )
        parser.add_argument(
            "--pretrain-steps",
            type=int,
            default=PRETRAIN_STEPS,
            help="pretraining steps of the tiny base model (cached under var/cache/demo-base-model/ by its recipe)",
        )
        parser.add_argument(
            "--model",
            type=Path,
            help="a local chat model directory to run the loop on instead of the tiny model (`make demo MODEL=...`); "
            "the demo adds it to the model roots for its own processes",
        )

    def handle(
        self, *args, no_serve: bool, addr: str, train_steps: int, pretrain_steps: int, model: Path | None, **options
    ):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        if model is not None:
            if not (model.expanduser() / "config.json").is_file():
                raise CommandError(f"--model: {model} is not a model directory (no config.json)")
            model_roots_allow(model.expanduser())
        # The endpoints the loop registers point at the built-in model server this command serves: allow its address.
        entry = own_server_allow(addr)
        call_command("migrate", interactive=False, verbosity=0)
        if Workspace.objects.filter(name=DEMO_WORKSPACE).exists():
            self.stdout.write(f"The demo workspace {DEMO_WORKSPACE!r} is already loaded; skipping the loop.")
        else:
            demo_loop_run(say=lambda message: self.stdout.write(f"· {message}"), train_steps=train_steps,
                          pretrain_steps=pretrain_steps, model_dir=model, server=entry)
        self._print_logins(addr)
        if not no_serve:
            self.stdout.write(f"Model endpoints may call the built-in model server at http://{entry}/v1 "
                              f"(WHETSTONE_OUTBOUND_PRIVATE_ALLOWED={','.join(settings.OUTBOUND_PRIVATE_ALLOWED)}).")
            self._serve(addr)

    def _print_logins(self, addr: str):
        self.stdout.write(self.style.SUCCESS(f"\nWhetstone is ready at http://{addr}/  — log in as:"))
        for username, role in DEMO_PEOPLE:
            self.stdout.write(f"  {Role(role).label:<18} user {username:<10} password demo-{username}")

    def _serve(self, addr: str):
        manage = str(Path(__file__).resolve().parents[3] / "manage.py")
        worker = subprocess.Popen([sys.executable, manage, "db_worker", "--queue-name", "default,gpu", "--no-reload"])
        # SIGTERM (a `kill`, a process manager, `make` passing on its own SIGTERM) and SIGHUP end Python at once by
        # default, skipping the `finally` below and leaving the worker running: make them leave the server like Ctrl-C.
        previous = {signum: signal.signal(signum, _stop_serving) for signum in (signal.SIGTERM, signal.SIGHUP)}
        try:
            call_command("runserver", addr, use_reloader=False)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _stop_serving(signum, frame):
    raise SystemExit(128 + signum)


def own_server_allow(addr: str) -> str:
    """Let the outbound policy reach the server this command starts (its /v1 is the built-in model server), in this
    process and in the worker it starts; returns the host:port allowed. The operator's other allowances stay."""
    host, _colon, port = addr.rpartition(":")
    entry = f"{'127.0.0.1' if host in ('', '0.0.0.0', 'localhost') else host}:{port}"
    if entry not in settings.OUTBOUND_PRIVATE_ALLOWED:
        settings.OUTBOUND_PRIVATE_ALLOWED = [*settings.OUTBOUND_PRIVATE_ALLOWED, entry]
    os.environ["WHETSTONE_OUTBOUND_PRIVATE_ALLOWED"] = ",".join(settings.OUTBOUND_PRIVATE_ALLOWED)
    return entry
