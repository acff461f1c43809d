"""Build the tiny local chat model (random weights, tokenizer trained on local text) and register it as a base model."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import workspace_named
from common.errors import ApplicationError
from common.storage import workspace_storage
from training.models import BaseModel
from training.services.base_models import base_model_register
from training.tiny_model import BUILTIN_TEXTS, conversation_texts, tiny_model_build

DEMO_FILE = Path(settings.BASE_DIR) / "demo" / "data" / "customer_service.jsonl"


class Command(BaseCommand):
    help = (
        "Build a tiny random Llama-style chat model whose tokenizer is trained on the demo conversations "
        "(demo/data/customer_service.jsonl), write it into the workspace's storage (models/<name>/) and register it as "
        "a base model."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--name", default="tiny-chat", help="base model name (default: tiny-chat)")
        parser.add_argument(
            "--out",
            type=Path,
            help="directory to write (default: <workspace storage>/models/<name>; elsewhere it must lie under "
                 "WHETSTONE_MODEL_ROOTS)",
        )
        parser.add_argument("--texts", type=Path,
                            help='a {"messages": [...]} JSONL file to train the tokenizer on (default: the demo data)')
        parser.add_argument("--vocab-size", type=int, default=2000, help="tokenizer vocabulary size (default: 2000)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default: 0)")

    def handle(
        self,
        *args,
        workspace: str,
        name: str,
        out: Path | None,
        texts: Path | None,
        vocab_size: int,
        seed: int,
        **options,
    ):
        found = workspace_named(workspace)
        if BaseModel.objects.filter(workspace=found, name=name).exists():
            raise CommandError(f"--name: a base model named {name!r} already exists in workspace {workspace!r}")
        if vocab_size < 259:
            raise CommandError(
                f"--vocab-size: {vocab_size} is too small; byte-level BPE needs at least 259 (256 bytes + 3 special "
                "tokens)"
            )
        corpus = self._corpus(texts)

        out_dir = (out or workspace_storage(found.pk) / "models" / name).resolve()
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"--out: {out_dir} is a file")
        self.stdout.write(
            f"building {name!r}: tokenizer ({vocab_size} tokens) and random weights (seed {seed}) → {out_dir}"
        )
        tiny_model_build(out_dir=out_dir, texts=corpus, vocab_size=vocab_size, seed=seed)

        try:
            base_model = base_model_register(workspace=found, name=name, path=out_dir)
        except ApplicationError as exc:
            raise CommandError(f"{out_dir}: {exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(
            f"registered base model {base_model.name!r} in {workspace!r}: {base_model.architecture}, "
            f"{base_model.parameter_count:,} parameters, path {base_model.path}"))
        for warning in base_model.warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))

    def _corpus(self, texts: Path | None) -> list[str]:
        """The tokenizer's training text: the file given, else the demo conversations, else the built-in sentences."""
        source = texts or (DEMO_FILE if DEMO_FILE.is_file() else None)
        if texts is not None and not texts.is_file():
            raise CommandError(f"--texts: no file at {texts}")
        if source is None:
            self.stdout.write(f"no demo data at {DEMO_FILE}; training the tokenizer on the built-in sentences")
            return BUILTIN_TEXTS * 3
        try:
            corpus = list(conversation_texts(source))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CommandError(f"{source}: not a JSON-lines file of conversations ({exc})") from exc
        if not corpus:
            raise CommandError(f"{source}: no message text to train the tokenizer on")
        self.stdout.write(f"training the tokenizer on {len(corpus)} messages from {source}")
        # The built-in sentences keep both scripts covered whatever the file holds.
        return corpus + BUILTIN_TEXTS
