"""The probe set: a few fixed prompts answered by the base model before training and by the trained model after it,
so the run page can show what training changed, answer by answer.

A run's probes live on the run (`TrainingRun.probes`): [{"messages", "prompt", "base", "trained"}], "messages" being
the conversation up to the reply wanted (a typed prompt is one user turn; a test-split record keeps its system and
earlier turns), "prompt" its last user turn for display. Both models answer with the same settings: greedy decoding,
PROBE_MAX_NEW_TOKENS new tokens, the model's own chat template (training.services.generation).
"""

import logging

from common.errors import ApplicationError
from datahub.models import DatasetVersion, Record, VersionRecord
from training.models import ModelArtifact, TrainingRun
from training.services.generation import generate_replies

logger = logging.getLogger(__name__)

PROBE_LIMIT = 20
PROMPT_MAX_CHARS = 4000
PROBE_MAX_NEW_TOKENS = 64


def _last_user_turn(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message.get("content") or ""
    return ""


def probe_set_build(
    *, dataset_version: DatasetVersion, prompts: list[str] | None = None, test_count: int = 0
) -> list[dict]:
    """The probe set of a new run: the typed `prompts` (blank ones dropped), then the first `test_count` prompts of the
    version's test split (in the version's order). At most PROBE_LIMIT in all; raises ApplicationError naming the field.
    """
    if not isinstance(prompts, (list, type(None))) or any(not isinstance(prompt, str) for prompt in prompts or []):
        raise ApplicationError("probe prompts must be a list of texts", where="probe_prompts")
    typed = [prompt.strip() for prompt in prompts or [] if prompt.strip()]
    if isinstance(test_count, bool) or not isinstance(test_count, int) or test_count < 0:
        raise ApplicationError("the number of test prompts must be a whole number, 0 or more", where="probe_test_count")
    if len(typed) + test_count > PROBE_LIMIT:
        raise ApplicationError(f"a probe set holds at most {PROBE_LIMIT} prompts, not {len(typed) + test_count}",
                               where="probe_prompts")
    for prompt in typed:
        if len(prompt) > PROMPT_MAX_CHARS:
            raise ApplicationError(f"a probe prompt is {len(prompt)} characters; the limit is {PROMPT_MAX_CHARS}",
                                   where="probe_prompts")
    probes = [{"messages": [{"role": "user", "content": prompt}], "prompt": prompt, "base": None, "trained": None}
              for prompt in typed]
    if test_count:
        entries = (VersionRecord.objects.filter(version=dataset_version, split=VersionRecord.Split.TEST,
                                                record__kind=Record.Kind.SFT)
                   .select_related("record").order_by("id")[:test_count])
        records = [entry.record for entry in entries]
        if len(records) < test_count:
            raise ApplicationError(
                f"the test split of dataset version {dataset_version} has {len(records)} conversations, "
                f"not {test_count}",
                where="probe_test_count",
            )
        for record in records:
            messages = [
                {"role": message.get("role"), "content": message.get("content") or ""}
                for message in record.prompt_messages
            ]
            probes.append({"messages": messages, "prompt": _last_user_turn(messages), "base": None, "trained": None})
    return probes


def probe_set_reset(probes: list[dict]) -> list[dict]:
    """The same prompts, unanswered: what a retried run starts with."""
    return [
        {"messages": probe["messages"], "prompt": probe["prompt"], "base": None, "trained": None} for probe in probes
    ]


def training_run_probes_answer(*, run: TrainingRun, stage: str) -> TrainingRun:
    """Answer the run's probe set with the base model (stage "base") or with the run's registered artifact (stage
    "trained"), and store the answers. A run without probes is left alone.

    A failure to answer never fails the run (training is what was asked for): it is stored in `probe_error`.
    Not a state change of the run, so no history row.
    """
    if stage not in ("base", "trained") or not run.probes:
        return run
    artifact = None
    if stage == "trained":
        artifact = ModelArtifact.objects.filter(run=run).first()
        if artifact is None:
            return run
    try:
        answers = generate_replies(base_model=run.base_model, artifact=artifact, max_new_tokens=PROBE_MAX_NEW_TOKENS,
                                   conversations=[probe["messages"] for probe in run.probes], temperature=0.0)
    except Exception as error:  # a model that cannot answer must not undo a finished training
        logger.exception("run %s: the probe set could not be answered by the %s model", run.pk, stage)
        run.probe_error = f"{stage}: {type(error).__name__}: {error}"[:2000]
        run.save(update_fields=["probe_error", "updated_at"])
        return run
    run.probes = [{**probe, stage: answer} for probe, answer in zip(run.probes, answers, strict=True)]
    run.save(update_fields=["probes", "updated_at"])
    return run
