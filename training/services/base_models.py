import json
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from common.paths import stored_path, user_directory
from training.models import BaseModel
from training.runner.templates import template_facts
from training.services.chat_templates import stored_warnings

NAME_MAX = 200
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


def model_directory(path: str) -> Path:
    """A stored model path made absolute: absolute paths stay, others are under the storage root."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else Path(settings.STORAGE_ROOT) / candidate


def base_model_directory(base_model: BaseModel) -> Path:
    return model_directory(base_model.path)


def parameter_count(directory: Path, config) -> int:
    """Parameters of the model in `directory`, read from safetensors headers when there are any (no weights are
    loaded), else by building the architecture on the meta device (no memory either)."""
    shards = sorted(directory.glob("*.safetensors"))
    if shards:
        from safetensors import safe_open

        total = 0
        for shard in shards:
            with safe_open(str(shard), framework="pt") as weights:
                for key in weights.keys():
                    count = 1
                    for size in weights.get_slice(key).get_shape():
                        count *= size
                    total += count
        return total
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def model_inspect(directory: Path) -> dict:
    """What registration records about a model directory: architecture, parameters, chat template, what the template
    does (training.runner.templates.TemplateFacts: its end-of-turn token and traps) and the warnings that follow.

    Raises ApplicationError naming the directory and the problem when it is not a loadable causal language model.
    """
    if not directory.is_dir():
        raise ApplicationError(f"no model directory at {directory}", where="path")
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise ApplicationError(f"no config.json in {directory}", where="path")
    try:
        config_data = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApplicationError(f"config.json in {directory} is not valid JSON: {error}", where="path") from error
    if not any(any(directory.glob(pattern)) for pattern in WEIGHT_PATTERNS):
        raise ApplicationError(f"no weights (*.safetensors or *.bin) in {directory}", where="path")

    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(directory)
    except Exception as error:  # transformers raises ValueError, KeyError, OSError ... for unknown architectures
        raise ApplicationError(
            f"config.json in {directory} is not a model transformers knows: {error}", where="path"
        ) from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
    except Exception as error:
        raise ApplicationError(f"cannot load the tokenizer in {directory}: {error}", where="path") from error

    has_chat_template = bool(getattr(tokenizer, "chat_template", None))
    facts = template_facts(tokenizer) if has_chat_template else None
    architectures = config_data.get("architectures") or [config_data.get("model_type", "")]
    return {
        "architecture": architectures[0] or "",
        "parameter_count": parameter_count(directory, config),
        "config": config_data,
        "has_chat_template": has_chat_template,
        "chat_template_facts": facts.as_dict() if facts is not None else {},
        "warnings": stored_warnings(facts=facts, has_chat_template=has_chat_template),
    }


@transaction.atomic
def base_model_register(*, workspace: Workspace, name: str, path: str | Path, registered_by=None) -> BaseModel:
    """Register a model directory as a base model of `workspace`: absolute under one of the operator's model roots, or
    inside the workspace's own storage (a relative path is taken there); see common.paths.

    The directory is inspected now, so a broken model is refused at the door with the reason.
    """
    name = name.strip()
    if not name:
        raise ApplicationError("a base model needs a name", where="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"the name is {len(name)} characters; the limit is {NAME_MAX}", where="name")
    if BaseModel.objects.filter(workspace=workspace, name=name).exists():
        raise ApplicationError(
            f"a base model named {name!r} already exists in workspace {workspace.name!r}",
            where="name",
            code="duplicate",
        )
    directory = user_directory(workspace_id=workspace.pk, path=path)
    facts = model_inspect(directory)
    path = stored_path(directory)
    try:
        # The unique constraint decides between two concurrent registrations of the same name.
        with transaction.atomic():
            base_model = BaseModel.objects.create(workspace=workspace, name=name, path=path, **facts)
    except IntegrityError as error:
        raise ApplicationError(
            f"a base model named {name!r} already exists in workspace {workspace.name!r}",
            where="name",
            code="duplicate",
        ) from error
    history_record(
        actor=registered_by,
        target=base_model,
        verb="registered",
        after={"name": name, "path": path, "parameter_count": facts["parameter_count"], "warnings": facts["warnings"]},
    )
    return base_model
