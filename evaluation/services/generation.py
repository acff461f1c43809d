"""The work of the `study_generate_task` job: every arm answers every prompt, then blinded comparisons are built."""

import secrets

from django.db import transaction
from django.utils import timezone

from common.errors import ApplicationError
from evaluation.models import Answer, Arm, Comparison, Study, StudyPrompt
from evaluation.services.quality import study_repeats_build
from evaluation.services.ratings import rating_items_build
from evaluation.services.studies import study_fail, study_open


def _arm_answers_generate(*, study: Study, arm: Arm, prompts: list[StudyPrompt], done: int, total: int) -> int:
    """Answer the prompts this arm has not answered yet, store the answers and the study's progress; return answers
    done.

    One generate_replies call per local arm: it loads the model per call, so the whole prompt set goes in one batch;
    an endpoint arm sends the prompts through llm.client.chat_complete_many (bounded concurrency, cached).
    Answers already stored (a resumed job) are kept, not redone.
    """
    answered = set(Answer.objects.filter(arm=arm).values_list("prompt_id", flat=True))
    pending = [p for p in prompts if p.pk not in answered]
    if pending:
        if arm.endpoint_id:
            replies = _endpoint_replies(study=study, arm=arm, prompts=pending)
        else:
            # Imported here: torch and transformers are heavy, and only a worker ever generates locally.
            from training.services.generation import generate_replies

            base_model = arm.artifact.base_model if arm.artifact_id else arm.base_model
            replies = generate_replies(
                base_model=base_model,
                artifact=arm.artifact,
                conversations=[p.messages for p in pending],
                max_new_tokens=study.max_new_tokens,
                seed=study.seed,
            )
        if len(replies) != len(pending):
            raise RuntimeError(f"the model returned {len(replies)} replies for {len(pending)} prompts")
        study_answers_record(study=study, arm=arm, answers=list(zip(pending, replies, strict=True)),
                             progress=min((done + len(prompts)) / total, 1.0))
    return done + len(prompts)


@transaction.atomic
def study_answers_record(
    *, study: Study, arm: Arm, answers: list[tuple[StudyPrompt, str]], progress: float
) -> list[Answer]:
    """Store `arm`'s answer to each prompt of `answers` ((prompt, text) pairs) and the study's `progress` (0–1): the one
    way answers enter a study; study_generate calls it once per arm with what the model replied.

    Preconditions: the study is generating, and the arm and the prompts are its own (checked); the arm has not answered
    these prompts yet (the unique (prompt, arm) constraint refuses a second answer). Build the comparisons afterwards,
    once every arm has answered (study_comparisons_build).
    """
    if study.status != Study.Status.GENERATING:
        raise ApplicationError(
            f"the study is {study.status}; answers are recorded only while it is generating", where="study"
        )
    if arm.study_id != study.pk:
        raise ApplicationError(f"arm {arm.name!r} belongs to another study", where="arm")
    for i, (prompt, _) in enumerate(answers):
        if prompt.study_id != study.pk or prompt.is_gold:
            raise ApplicationError("the prompt is not one of the study's prompts to answer", where=f"answers[{i}]")
    # A model may emit a NUL byte, which PostgreSQL text cannot hold; it carries no meaning for a rater.
    stored = Answer.objects.bulk_create(
        [Answer(prompt=prompt, arm=arm, text=text.replace("\x00", "")) for prompt, text in answers]
    )
    # updated_at too: it is the heartbeat by which a study whose worker died is recognised as stale.
    Study.objects.filter(pk=study.pk).update(progress=progress, updated_at=timezone.now())
    return stored


def _endpoint_replies(*, study: Study, arm: Arm, prompts: list[StudyPrompt]) -> list[str]:
    """The endpoint's answers, greedy and seeded like local generation, so a resumed job hits the client's cache."""
    from llm.client import chat_complete_many

    requests = [{"messages": p.messages, "max_tokens": study.max_new_tokens, "temperature": 0.0, "seed": study.seed}
                for p in prompts]
    results = chat_complete_many(endpoint=arm.endpoint, requests=requests, purpose=f"study {study.pk} arm {arm.name}")
    return [result.text for result in results]


def _same_text(left: str, right: str) -> bool:
    return left.strip() == right.strip()


@transaction.atomic
def study_comparisons_build(*, study: Study) -> int:
    """One comparison per prompt and (baseline, candidate) pair, then open the study. Returns how many were built.
    A rating study gets its rating items instead (services/ratings.py: rating_items_build).

    The stored orientation (which answer is left_answer) and `order` are drawn with `secrets`, never the study's seed,
    so neither can be replayed from public facts; each rater's sides are drawn again when served (services/showings.py).
    Identical answers are flagged and never shown. A share `repeat_rate` of the shown comparisons also gets a
    side-swapped mirror (study_repeats_build). Precondition: every arm answered every prompt.
    """
    if study.comparisons.exists():
        return 0
    if study.kind == "rating":  # one answer at a time: the items are every arm's answers, no pairs
        built = rating_items_build(study=study)
        study_open(study=study)
        return built
    arms = list(study.arms.order_by("pk"))
    baseline = next(arm for arm in arms if arm.is_baseline)
    candidates = [arm for arm in arms if not arm.is_baseline]
    answers = {(a.prompt_id, a.arm_id): a for a in Answer.objects.filter(prompt__study=study)}
    rng = secrets.SystemRandom()
    comparisons = []
    for prompt in study.prompts.filter(is_gold=False).order_by("order"):
        for candidate in candidates:
            pair = [answers[prompt.pk, baseline.pk], answers[prompt.pk, candidate.pk]]
            if rng.random() < 0.5:
                pair.reverse()
            comparisons.append(Comparison(study=study, prompt=prompt, left_answer=pair[0], right_answer=pair[1],
                                          is_identical=_same_text(pair[0].text, pair[1].text)))
    positions = list(range(len(comparisons)))
    rng.shuffle(positions)
    for comparison, position in zip(comparisons, positions):
        comparison.order = position
    Comparison.objects.bulk_create(comparisons)
    study_repeats_build(study=study)
    study_open(study=study)
    return len(comparisons)


def study_generate(*, study: Study) -> Study:
    """Generate every arm's answers and build the comparisons; on any failure, mark the study failed with the reason.

    Idempotent: a study that is not generating is left alone, and a resumed run keeps the answers already stored.
    """
    if study.status != Study.Status.GENERATING:
        return study
    prompts = list(study.prompts.filter(is_gold=False).order_by("order"))
    arms = list(
        study.arms.select_related("base_model", "artifact__base_model", "endpoint").order_by("-is_baseline", "pk")
    )
    total = len(prompts) * len(arms)
    done = 0
    for arm in arms:
        try:
            done = _arm_answers_generate(study=study, arm=arm, prompts=prompts, done=done, total=total)
        except Exception as error:  # any failure is terminal for the study: a PM reads the reason and starts again
            return study_fail(study=study, reason=f"generating the answers of arm {arm.name!r} failed: {error}")
    study_comparisons_build(study=study)
    study.refresh_from_db()
    return study
