"""Grader state changes (create, update, delete) and the bench: scoring sample answers with saved or typed graders.

The grading itself is graders.grading (Django-free; the training runner calls it too). This module adds what needs
the platform: a score_model grader's judge is the workspace's model endpoint of that name, asked through
llm.client (a deterministic request, temperature 0 or a seed, is cached there); cosine similarity embeds with the
embedding model dedupe uses (dedupe.embeddings, cached by text).
"""

from django.db import IntegrityError, transaction

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from graders.grading.definitions import DefinitionError, definition_check, definition_kinds
from graders.grading.scoring import Grade, grade_many, sample_of
from graders.models import Grader

BENCH_MAX_SAMPLES = 50
BENCH_MAX_GRADERS = 10
SAMPLE_MAX_CHARS = 20_000


def definition_clean(definition, *, where: str = "definition") -> dict:
    """The checked definition; a DefinitionError becomes an ApplicationError naming the field."""
    try:
        return definition_check(definition)
    except DefinitionError as error:
        raise ApplicationError(str(error), where=f"{where}.{error.where}".rstrip(".")) from error


def _snapshot(grader: Grader) -> dict:
    return {"name": grader.name, "kind": grader.kind, "definition": grader.definition}


def _save(grader: Grader) -> None:
    try:
        with transaction.atomic():
            grader.save()
    except IntegrityError as error:
        raise ApplicationError(f"a grader named {grader.name!r} already exists in this workspace", where="name",
                               code="duplicate") from error


def _name_clean(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ApplicationError("a grader needs a name of at most 200 characters", where="name")
    return name


@transaction.atomic
def grader_create(*, workspace: Workspace, name: str, definition: dict, description: str = "",
                  created_by=None) -> Grader:
    """Save a checked grader definition under `name` (its "name" field is set to it)."""
    name = _name_clean(name)
    clean = definition_clean({**definition, "name": name} if isinstance(definition, dict) else definition)
    grader = Grader(workspace=workspace, name=name, kind=clean["type"], definition=clean, description=description,
                    created_by=created_by if created_by is not None and created_by.is_authenticated else None)
    _save(grader)
    history_record(actor=created_by, target=grader, verb="created", after=_snapshot(grader))
    return grader


@transaction.atomic
def grader_update(*, grader: Grader, name: str, definition: dict, description: str = "", updated_by=None) -> Grader:
    """Replace the grader's name and definition. Runs that used it keep the copy they trained with."""
    before = _snapshot(grader)
    grader.name = _name_clean(name)
    grader.definition = definition_clean({**definition, "name": grader.name} if isinstance(definition, dict)
                                         else definition)
    grader.kind = grader.definition["type"]
    grader.description = description
    _save(grader)
    history_record(actor=updated_by, target=grader, verb="updated", before=before, after=_snapshot(grader))
    return grader


@transaction.atomic
def grader_delete(*, grader: Grader, deleted_by=None) -> None:
    history_record(actor=deleted_by, target=grader, verb="deleted", before=_snapshot(grader))
    grader.delete()


def _ask_model(workspace: Workspace):
    from llm.client import chat_complete
    from llm.selectors import model_endpoint_by_name

    def ask(definition: dict, messages: list[dict]) -> str:
        endpoint = model_endpoint_by_name(workspace=workspace, name=definition["model"])
        if endpoint is None:
            raise ValueError(f"the workspace has no model endpoint named {definition['model']!r}")
        sampling = definition.get("sampling_params") or {}
        result = chat_complete(endpoint=endpoint, messages=messages, purpose=f"grader {definition['name']}",
                               temperature=float(sampling.get("temperature", 0.0)),
                               max_tokens=int(sampling.get("max_completions_tokens", 256)),
                               seed=sampling.get("seed"))
        return result.text

    return ask


def _embed(texts: list[str]) -> list[list[float]]:
    from dedupe.embeddings import texts_embed

    return texts_embed(texts).tolist()


def definitions_grade(*, workspace: Workspace, definitions: list[dict], answers: list[str],
                      items: list[dict]) -> list[list[Grade]]:
    """For each (checked) definition, one Grade per answer, the answer's item beside it. Model judges and embeddings
    are the workspace's. Call outside a transaction: a judge waits on the network."""
    pairs = [(sample_of(answer), item) for answer, item in zip(answers, items)]
    return [grade_many(definition, pairs, embed=_embed if "cosine" in definition_kinds(definition) else None,
                       ask_model=_ask_model(workspace)) for definition in definitions]


def grader_bench(*, workspace: Workspace, graders: list[Grader], definitions: list[dict] | None = None,
                 samples: list[dict]) -> dict:
    """Score sample answers with saved graders and/or unsaved definitions, before anything is launched.

    `samples`: [{"answer": text, "reference": text, ...item fields}]. Returns {"graders": [names],
    "rows": [{"answer", "reference", "grades": [{"score", "reason", "parts"}]}]}; nothing is stored.
    """
    definitions = [definition_clean(definition, where=f"definitions.{index}")
                   for index, definition in enumerate(definitions or [])]
    all_definitions = [grader.definition for grader in graders] + definitions
    if not all_definitions:
        raise ApplicationError("pick or write at least one grader", where="graders")
    if len(all_definitions) > BENCH_MAX_GRADERS:
        raise ApplicationError(f"at most {BENCH_MAX_GRADERS} graders at once", where="graders")
    if not samples:
        raise ApplicationError("give at least one sample answer", where="samples")
    if len(samples) > BENCH_MAX_SAMPLES:
        raise ApplicationError(f"at most {BENCH_MAX_SAMPLES} samples at once", where="samples")
    answers, items = [], []
    for index, sample in enumerate(samples):
        answer = sample.get("answer") if isinstance(sample, dict) else None
        if not isinstance(answer, str) or len(answer) > SAMPLE_MAX_CHARS:
            raise ApplicationError(f"each sample needs an answer of at most {SAMPLE_MAX_CHARS} characters",
                                   where=f"samples.{index}.answer")
        answers.append(answer)
        items.append({key: value for key, value in sample.items() if key != "answer"})
    grades = definitions_grade(workspace=workspace, definitions=all_definitions, answers=answers, items=items)
    rows = [{"answer": answer, "reference": item.get("reference", ""),
             "grades": [{"score": per_grader[index].score, "reason": per_grader[index].reason,
                         "parts": per_grader[index].parts} for per_grader in grades]}
            for index, (answer, item) in enumerate(zip(answers, items))]
    return {"graders": [definition["name"] for definition in all_definitions], "rows": rows}


def reward_definitions(*, graders: list[Grader]) -> list[dict]:
    """The definitions a training run copies to reward its completions: only graders the runner can call on its own
    (no model judge, no embedding similarity, which need the platform), with distinct names."""
    from graders.grading.definitions import RUNNER_KINDS

    definitions, names = [], set()
    for grader in graders:
        unsupported = sorted(definition_kinds(grader.definition) - set(RUNNER_KINDS))
        if unsupported:
            raise ApplicationError(
                f"grader {grader.name!r} uses {unsupported[0]}, which needs the platform; a training run can reward "
                f"with {', '.join(RUNNER_KINDS)} graders (text_similarity without cosine)", where="graders")
        if grader.name in names:
            raise ApplicationError(f"grader {grader.name!r} is named twice", where="graders")
        names.add(grader.name)
        definitions.append(grader.definition)
    return definitions
