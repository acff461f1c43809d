import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from common.models import TimeStampedModel
from datahub.models import DatasetVersion
from llm.models import ModelEndpoint
from training.models import BaseModel, ModelArtifact


def new_public_token() -> str:
    return secrets.token_urlsafe(12)


class Study(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        GENERATING = "generating", _("Generating answers")
        OPEN = "open", _("Open for votes")
        CLOSED = "closed", _("Closed")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="studies")
    name = models.CharField(max_length=200)
    question = models.TextField(
        blank=True, help_text="what raters are asked, e.g. which answer helps the customer more"
    )
    # The prompts come from one split of a frozen version, or from an uploaded file (then no version, and upload_name).
    dataset_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="studies"
    )
    upload_name = models.CharField(max_length=255, blank=True, help_text="the uploaded prompt file's name")
    split = models.CharField(max_length=16, default="test")
    max_prompts = models.PositiveIntegerField(default=50)
    max_new_tokens = models.PositiveIntegerField(default=64)
    votes_per_comparison = models.PositiveSmallIntegerField(default=1)
    seed = models.IntegerField(
        default=0,
        help_text="seeds the prompt sample, generation and the results' bootstrap; never the sides or the serving order",
    )
    labels = models.JSONField(default=list, blank=True,
                              help_text="categories a rater may tag a vote with, for the per-label breakdown")
    # Rater quality control (see evaluation/services/quality.py): gold comparisons mixed into each rater's queue at
    # gold_rate, a share repeat_rate of comparisons shown again to the same rater with the sides swapped, and the gold
    # accuracy below which a rater's votes are flagged for the product manager.
    gold_rate = models.FloatField(default=0.0, help_text="share of a rater's queue drawn from the gold comparisons")
    repeat_rate = models.FloatField(
        default=0.0, help_text="share of comparisons shown again, sides swapped, to the same rater"
    )
    gold_threshold = models.FloatField(default=0.7, help_text="gold accuracy below which a rater's votes are flagged")
    # A pairwise study shows raters two answers side by side; a rating study shows one answer at a time, scored 1–5 on
    # each criterion of `rubric` (evaluation/rating_models.py).
    kind = models.CharField(max_length=16, choices=[("pairwise", _("Pairwise")), ("rating", _("Rating 1–5"))],
                            default="pairwise")
    rubric = models.JSONField(default=list, blank=True,
                              help_text='a rating study\'s criteria: [{"name", "description"}], each scored 1–5')
    significance_level = models.FloatField(
        default=0.05, help_text="the level at which every comparison between arms is called significant"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0, progress__lte=1.0), name="study_progress_in_unit_range"
            ),
            models.CheckConstraint(
                condition=models.Q(votes_per_comparison__gte=1), name="study_votes_per_comparison_positive"
            ),
            models.CheckConstraint(condition=models.Q(max_prompts__gte=1), name="study_max_prompts_positive"),
            models.CheckConstraint(
                condition=models.Q(dataset_version__isnull=False) | ~models.Q(upload_name=""),
                name="study_has_a_prompt_source",
            ),
            models.CheckConstraint(
                condition=models.Q(gold_rate__gte=0.0, gold_rate__lt=1.0), name="study_gold_rate_in_range"
            ),
            models.CheckConstraint(
                condition=models.Q(repeat_rate__gte=0.0, repeat_rate__lte=1.0), name="study_repeat_rate_in_range"
            ),
            models.CheckConstraint(
                condition=models.Q(gold_threshold__gte=0.0, gold_threshold__lte=1.0),
                name="study_gold_threshold_in_range",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=["pairwise", "rating"]), name="study_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(significance_level__gt=0.0, significance_level__lt=0.5),
                name="study_significance_level_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Arm(models.Model):
    """One model in a study: a base model or a trained artifact (generated locally) or a model endpoint (asked over
    the chat-completions protocol). The baseline arm is what every candidate is compared against."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    name = models.CharField(max_length=200)
    is_baseline = models.BooleanField(default=False)
    base_model = models.ForeignKey(BaseModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    artifact = models.ForeignKey(ModelArtifact, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    endpoint = models.ForeignKey(ModelEndpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(base_model__isnull=False, artifact__isnull=True, endpoint__isnull=True)
                | models.Q(base_model__isnull=True, artifact__isnull=False, endpoint__isnull=True)
                | models.Q(base_model__isnull=True, artifact__isnull=True, endpoint__isnull=False),
                name="arm_has_exactly_one_model",
            ),
            models.UniqueConstraint(fields=["study", "name"], name="arm_name_unique_in_study"),
            models.UniqueConstraint(
                fields=["study"], condition=models.Q(is_baseline=True), name="arm_one_baseline_per_study"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StudyPrompt(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="prompts")
    messages = models.JSONField(help_text="the conversation up to the answer")
    record_id = models.BigIntegerField(null=True, blank=True)
    order = models.PositiveIntegerField()
    is_gold = models.BooleanField(
        default=False, help_text="an uploaded gold prompt: its two answers come with it, no arm answers it"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "order"], name="study_prompt_order_unique")]


class Answer(models.Model):
    prompt = models.ForeignKey(StudyPrompt, on_delete=models.CASCADE, related_name="answers")
    # No arm: one of the two answers of an uploaded gold prompt.
    arm = models.ForeignKey(Arm, null=True, blank=True, on_delete=models.CASCADE, related_name="answers")
    text = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "arm"], name="answer_unique_per_arm")]


class Comparison(models.Model):
    """One prompt, two answers, in a stored orientation (left_answer / right_answer, drawn with `secrets`) that votes,
    gold, judges and results are written in. Raters address a comparison by its random token, never by anything that
    encodes the arms, and each sees it through a Showing of their own: the sides as that rater sees them."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.ForeignKey(StudyPrompt, on_delete=models.CASCADE, related_name="comparisons")
    token = models.CharField(max_length=32, unique=True, default=new_public_token)
    left_answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="+")
    right_answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="+")
    is_identical = models.BooleanField(default=False, help_text="identical answers are not shown to raters")
    vote_count = models.PositiveSmallIntegerField(default=0)
    order = models.PositiveIntegerField(
        default=0, help_text="a shuffle drawn with secrets, so this order hides creation order"
    )
    # Gold: the answer a careful rater prefers, set by the product manager (or given with an uploaded gold prompt).
    # Gold comparisons are served to every rater at the study's gold_rate and left out of the results.
    gold_answer = models.ForeignKey(Answer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # A side-swapped repeat: the same prompt and answers as `repeat_of`, left and right exchanged, under its own token.
    # Served only to a rater who voted on `repeat_of`, some votes later; its votes measure consistency, not the arms.
    repeat_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.CASCADE, related_name="repeat")

    class Meta:
        indexes = [models.Index(fields=["study", "is_identical", "vote_count", "order"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(left_answer=models.F("right_answer")), name="comparison_two_different_answers"
            ),
            models.UniqueConstraint(fields=["study", "order"], name="comparison_order_unique_in_study"),
            models.CheckConstraint(
                condition=models.Q(gold_answer__isnull=True)
                | models.Q(gold_answer=models.F("left_answer"))
                | models.Q(gold_answer=models.F("right_answer")),
                name="comparison_gold_is_one_of_its_answers",
            ),
        ]


class Showing(models.Model):
    """One comparison as served to one rater: which answer this rater sees on the left.

    Drawn with `secrets` when the comparison is first served to the rater and kept, so a reload shows the same sides;
    independent of the study's seed, of the stored orientation and of every other rater's showing. A side-swapped
    repeat is shown with the is_swapped of its original's showing, so the rater sees it mirrored. A rater votes in
    these terms (left = the answer they saw on the left); vote_submit stores the vote in the comparison's orientation.
    At most one showing per rater and study is pending: served and not yet voted on, what a reload serves again.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="showings")
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="showings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    is_swapped = models.BooleanField(help_text="the rater sees the comparison's right answer on the left")
    is_pending = models.BooleanField(default=False, help_text="served by the queue, not yet voted on")
    served_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comparison", "rater"], name="showing_once_per_rater"),
            models.UniqueConstraint(fields=["study", "rater"], condition=models.Q(is_pending=True),
                                    name="showing_one_pending_per_rater_in_study"),
        ]

    @property
    def left_answer(self) -> "Answer":
        return self.comparison.right_answer if self.is_swapped else self.comparison.left_answer

    @property
    def right_answer(self) -> "Answer":
        return self.comparison.left_answer if self.is_swapped else self.comparison.right_answer

    def choice_stored(self, shown: str) -> str:
        """A choice made on this showing, in the comparison's stored orientation (left = left_answer)."""
        return {"left": "right", "right": "left"}.get(shown, shown) if self.is_swapped else shown

    def choice_shown(self, stored: str) -> str:
        """A choice in the comparison's stored orientation, as this rater would have made it."""
        return self.choice_stored(stored)  # swapping the sides is its own inverse


class Vote(TimeStampedModel):
    """A rater's choice, in the comparison's stored orientation: "left" prefers left_answer, whatever side the rater saw
    it on (their Showing of the comparison, unique per comparison and rater like the vote, says which that was)."""

    class Choice(models.TextChoices):
        LEFT = "left", _("Left is better")
        RIGHT = "right", _("Right is better")
        TIE = "tie", _("Tie")
        BOTH_BAD = "both_bad", _("Both bad")

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="votes")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes")
    choice = models.CharField(max_length=16, choices=Choice.choices)
    reason = models.TextField(blank=True)
    label = models.CharField(max_length=64, blank=True, help_text="one of the study's labels, or empty")
    time_spent_ms = models.PositiveIntegerField(default=0)
    simulated_by = models.CharField(max_length=64, blank=True,
                                    help_text="the rule that cast this vote in place of a person (common.simulation); "
                                              "empty for a person's vote")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comparison", "rater"], name="vote_one_per_rater"),
            models.CheckConstraint(
                condition=models.Q(choice__in=["left", "right", "tie", "both_bad"]), name="vote_choice_valid"
            ),
        ]


class RaterExclusion(TimeStampedModel):
    """A rater whose votes the product manager left out of a study's results (typically one flagged by gold accuracy).
    Deleting the row includes the votes again; both are recorded in the study's history."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rater_exclusions")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.TextField(blank=True)
    excluded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "rater"], name="rater_excluded_once_per_study")]


class Judge(TimeStampedModel):
    """An LLM judge of a study: an endpoint and a judge prompt. It judges every shown comparison in both orders."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="judges")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT, related_name="+")
    prompt = models.TextField(help_text="with {question}, {conversation}, {answer_a} and {answer_b}")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.endpoint} on {self.study}"


class JudgeVerdict(models.Model):
    """One comparison judged twice: in its stored orientation (left = A) and swapped (right = A)."""

    class Outcome(models.TextChoices):
        LEFT = "left", _("Left is better")
        RIGHT = "right", _("Right is better")
        TIE = "tie", _("Tie")
        INVALID = "invalid", _("Unreadable verdict")

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="verdicts")
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="judge_verdicts")
    shown_order = models.CharField(
        max_length=16, choices=Outcome.choices, help_text="the verdict with the left answer as A"
    )
    swapped_order = models.CharField(
        max_length=16, choices=Outcome.choices, help_text="the verdict with the right answer as A"
    )
    outcome = models.CharField(
        max_length=16, choices=Outcome.choices, help_text="both orders combined; a flip is a tie"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "comparison"], name="judge_verdict_once_per_comparison")
        ]


class GeneralEval(TimeStampedModel):
    """A general-capability check: multiple-choice benchmark files (MMLU, CMMLU, C-Eval style) scored the way
    lm-evaluation-harness scores them, for a baseline model and optionally a candidate on the same items (see
    evaluation/general). Each model is a base model or a model artifact (adapter, merged or full weights)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="general_evals")
    name = models.CharField(max_length=200)
    baseline_base_model = models.ForeignKey(
        BaseModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    baseline_artifact = models.ForeignKey(
        ModelArtifact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    candidate_base_model = models.ForeignKey(
        BaseModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    candidate_artifact = models.ForeignKey(
        ModelArtifact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shots = models.PositiveSmallIntegerField(default=5, help_text="k: the first k rows of each subject's dev file")
    tolerance = models.FloatField(
        default=0.02, help_text="accuracy drop (0..1) beyond which a significant drop is a regression"
    )
    files = models.JSONField(
        default=list, help_text='[{"name", "role": "test" | "dev", "path", "source": "upload" | "path"}]'
    )
    fewshot = models.JSONField(
        default=dict, help_text='subject → the k dev items: [{"question", "choices", "gold", "style"}]'
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    items_per_s = models.FloatField(null=True, blank=True, help_text="scoring speed of the last model scored")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(baseline_base_model__isnull=False, baseline_artifact__isnull=True)
                | models.Q(baseline_base_model__isnull=True, baseline_artifact__isnull=False),
                name="general_eval_one_baseline_model",
            ),
            models.CheckConstraint(
                condition=models.Q(candidate_base_model__isnull=True) | models.Q(candidate_artifact__isnull=True),
                name="general_eval_at_most_one_candidate_model",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0, progress__lte=1.0), name="general_eval_progress_in_unit_range"
            ),
            models.CheckConstraint(
                condition=models.Q(tolerance__gte=0.0, tolerance__lte=1.0), name="general_eval_tolerance_in_unit_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_candidate(self) -> bool:
        return bool(self.candidate_base_model_id or self.candidate_artifact_id)


class GeneralEvalItem(models.Model):  # noqa: DJ008
    """One question of a general check, with each model's log-likelihood per option once scored."""

    general_eval = models.ForeignKey(GeneralEval, on_delete=models.CASCADE, related_name="items")
    order = models.PositiveIntegerField()
    subject = models.CharField(max_length=200)
    style = models.CharField(max_length=8, help_text="mmlu, cmmlu or ceval: the prompt's language and description")
    question = models.TextField()
    choices = models.JSONField()
    gold = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=300, help_text="the file and line it came from")
    baseline_scores = models.JSONField(null=True, blank=True)
    candidate_scores = models.JSONField(null=True, blank=True)
    baseline_correct = models.BooleanField(null=True, blank=True)
    candidate_correct = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["general_eval", "order"], name="general_eval_item_order_unique")]
        indexes = [models.Index(fields=["general_eval", "subject"])]


from evaluation.rating_models import Rating, RatingItem, RatingShowing  # noqa: E402, F401  (the rating study's rows)
