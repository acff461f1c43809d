"""Grader definitions in the shapes of OpenAI's fine-tuning graders, checked; Django-free.

    {"type": "string_check", "name", "input": "{{sample.output_text}}", "reference": "{{item.reference}}",
     "operation": "eq" | "ne" | "like" | "ilike"}
    {"type": "text_similarity", "name", "input", "reference",
     "evaluation_metric": "fuzzy_match" | "bleu" | "rouge_l" | "cosine"}
    {"type": "python", "name", "source": "def grade(sample, item) -> float: ..."}
    {"type": "score_model", "name", "model": "<model endpoint name>", "input": [{"role", "content"}, ...],
     "range": [0, 1], "sampling_params": {"temperature", "max_completions_tokens", "seed"}}
    {"type": "multi", "name", "graders": {"<name>": {definition}, ...}, "calculate_output": "0.5 * a + 0.5 * b"}

Templates ("{{sample.output_text}}", "{{item.reference}}") are filled from the sample (the model's answer:
output_text, and output_json when it parses) and the item (the data row: reference, prompt, and whatever else it
carries). OpenAI's `image_tag` and `pass_threshold` are accepted and kept; the platform does not use them.
"""

from graders.grading.formula import FormulaError, formula_names, formula_parse

KINDS = ("string_check", "text_similarity", "python", "score_model", "multi")
STRING_OPERATIONS = ("eq", "ne", "like", "ilike")
SIMILARITY_METRICS = ("fuzzy_match", "bleu", "rouge_l", "cosine")
TEMPLATE_MAX_CHARS = 20_000
SOURCE_MAX_CHARS = 100_000
MULTI_MAX_GRADERS = 20
# The graders a training run can call without the platform: score_model needs an endpoint, cosine an embedder.
RUNNER_KINDS = ("string_check", "text_similarity", "python", "multi")


class DefinitionError(ValueError):
    """A definition that is not valid; `where` is the dotted path of the field (e.g. "graders.a.operation")."""

    def __init__(self, message: str, *, where: str):
        super().__init__(message)
        self.where = where


def _text(definition: dict, key: str, where: str, *, limit: int = TEMPLATE_MAX_CHARS, default=None) -> str:
    value = definition.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(f"{key} must be a non-empty text", where=f"{where}{key}")
    if len(value) > limit:
        raise DefinitionError(f"{key} is {len(value)} characters; the limit is {limit}", where=f"{where}{key}")
    return value


def _choice(definition: dict, key: str, choices: tuple, where: str) -> str:
    value = definition.get(key)
    if value not in choices:
        raise DefinitionError(f"{key} must be one of {', '.join(choices)}, not {value!r}", where=f"{where}{key}")
    return value


def definition_check(definition, *, where: str = "", nested: bool = False) -> dict:
    """The definition with its defaults filled in; raises DefinitionError at the first problem."""
    if not isinstance(definition, dict):
        raise DefinitionError("a grader definition must be an object", where=where.rstrip(".") or "definition")
    kind = _choice(definition, "type", KINDS, where)
    clean = dict(definition)
    clean["name"] = _text(definition, "name", where, limit=200, default=where.rstrip(".").rsplit(".", 1)[-1] or None)
    if kind in ("string_check", "text_similarity"):
        clean["input"] = _text(definition, "input", where, default="{{sample.output_text}}")
        clean["reference"] = _text(definition, "reference", where, default="{{item.reference}}")
        if kind == "string_check":
            _choice(definition, "operation", STRING_OPERATIONS, where)
        else:
            _choice(definition, "evaluation_metric", SIMILARITY_METRICS, where)
    elif kind == "python":
        clean["source"] = _text(definition, "source", where, limit=SOURCE_MAX_CHARS)
        if "def grade" not in clean["source"]:
            raise DefinitionError("the source must define grade(sample, item)", where=f"{where}source")
    elif kind == "score_model":
        _score_model_check(definition, clean, where)
    else:
        _multi_check(definition, clean, where, nested)
    return clean


def _score_model_check(definition: dict, clean: dict, where: str) -> None:
    _text(definition, "model", where, limit=200)
    messages = definition.get("input")
    if not isinstance(messages, list) or not messages or not all(
        isinstance(message, dict) and message.get("role") in ("system", "user", "assistant", "developer")
        and isinstance(message.get("content"), str) for message in messages
    ):
        raise DefinitionError("input must be a list of messages, each with a role and a text content",
                              where=f"{where}input")
    if sum(len(message["content"]) for message in messages) > TEMPLATE_MAX_CHARS:
        raise DefinitionError(f"the messages are longer than {TEMPLATE_MAX_CHARS} characters", where=f"{where}input")
    score_range = definition.get("range", [0, 1])
    if not (isinstance(score_range, list) and len(score_range) == 2
            and all(isinstance(end, (int, float)) and not isinstance(end, bool) for end in score_range)
            and score_range[0] < score_range[1]):
        raise DefinitionError("range must be [low, high] with low < high", where=f"{where}range")
    clean["range"] = [float(score_range[0]), float(score_range[1])]
    sampling = definition.get("sampling_params") or {}
    if not isinstance(sampling, dict):
        raise DefinitionError("sampling_params must be an object", where=f"{where}sampling_params")
    clean["sampling_params"] = sampling


def _multi_check(definition: dict, clean: dict, where: str, nested: bool) -> None:
    if nested:
        raise DefinitionError("a multi grader cannot hold another multi grader", where=f"{where}type")
    graders = definition.get("graders")
    if not isinstance(graders, dict) or not graders:
        raise DefinitionError("graders must name at least one grader", where=f"{where}graders")
    if len(graders) > MULTI_MAX_GRADERS:
        raise DefinitionError(f"at most {MULTI_MAX_GRADERS} graders", where=f"{where}graders")
    clean["graders"] = {}
    for name, inner in graders.items():
        if not name.isidentifier():
            raise DefinitionError(f"{name!r} cannot be named in a formula; use letters, digits and _",
                                  where=f"{where}graders.{name}")
        clean["graders"][name] = definition_check(inner, where=f"{where}graders.{name}.", nested=True)
    formula = definition.get("calculate_output")
    try:
        unknown = sorted(formula_names(formula_parse(formula)) - set(graders))
    except FormulaError as error:
        raise DefinitionError(str(error), where=f"{where}calculate_output") from error
    if unknown:
        raise DefinitionError(f"the formula names {unknown[0]!r}, which is not one of its graders",
                              where=f"{where}calculate_output")


def definition_kinds(definition: dict) -> set[str]:
    """Every kind a definition uses, its inner graders' included."""
    kinds = {definition["type"]}
    for inner in (definition.get("graders") or {}).values() if definition["type"] == "multi" else ():
        kinds |= definition_kinds(inner)
    if any(inner.get("evaluation_metric") == "cosine"
           for inner in [definition, *(definition.get("graders") or {}).values()]):
        kinds.add("cosine")
    return kinds
