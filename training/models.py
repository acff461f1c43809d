from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from common.models import TimeStampedModel
from datahub.models import DatasetVersion


class BaseModel(TimeStampedModel):
    """A model to fine-tune: a local directory with weights, tokenizer and chat template."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="base_models")
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=500, help_text="absolute, or relative to the storage root")
    architecture = models.CharField(max_length=100, blank=True)
    parameter_count = models.BigIntegerField(default=0)
    config = models.JSONField(default=dict, blank=True)
    has_chat_template = models.BooleanField(default=False)
    chat_template_facts = models.JSONField(
        default=dict,
        blank=True,
        help_text="training.runner.templates.TemplateFacts.as_dict(): the end-of-turn "
        "token and the template's traps, found at registration",
    )
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="base_model_name_unique_in_workspace")
        ]

    def __str__(self) -> str:
        return self.name


class TrainingRun(TimeStampedModel):
    class Method(models.TextChoices):
        SFT = "sft", "SFT"
        DPO = "dpo", "DPO"
        KTO = "kto", "KTO"
        GRPO = "grpo", "GRPO"

    class Adapter(models.TextChoices):
        FULL = "full", _("Full")
        LORA = "lora", "LoRA"
        QLORA = "qlora", "QLoRA"
        PROMPT_TUNING = "prompt_tuning", _("Prompt tuning")
        PREFIX_TUNING = "prefix_tuning", _("Prefix tuning (P-tuning v2)")
        P_TUNING = "p_tuning", _("P-tuning")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="training_runs")
    name = models.CharField(max_length=200)
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="runs")
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="training_runs")
    method = models.CharField(max_length=8, choices=Method.choices, default=Method.SFT)
    adapter = models.CharField(max_length=16, choices=Adapter.choices, default=Adapter.LORA)
    hyperparameters = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    output_dir = models.CharField(max_length=500, blank=True, help_text="relative to the storage root")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    progress = models.FloatField(default=0.0, help_text="0..1")
    memory_estimate = models.JSONField(
        default=dict,
        blank=True,
        help_text='training.services.memory.MemoryCheck.as_dict(): {"parts": {...GiB}, "device_gib", "fits"}',
    )
    memory_override = models.BooleanField(
        default=False, help_text="launched although the estimate did not fit the device"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
                               help_text="the run this one retries or resumes")
    resume_from = models.ForeignKey("Checkpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    help_text="the parent's checkpoint this run continues from")
    probes = models.JSONField(default=list, blank=True,
                              help_text='the probe set: [{"messages": [...], "prompt", "base": answer or null, '
                                        '"trained": answer or null}]; see training.services.probes')
    probe_error = models.TextField(blank=True, help_text="why the probe set could not be answered, when it could not")
    reward_graders = models.JSONField(default=list, blank=True,
                                      help_text="GRPO: the graders' checked definitions, copied when the run was "
                                                "launched (graders.grading.definitions)")
    warnings = models.JSONField(
        default=list,
        blank=True,
        help_text='what the runner warned about the data: [{"source": "trl" | "whetstone", "message"}]',
    )

    def __str__(self) -> str:
        return self.name


class Checkpoint(models.Model):
    """A resumable Trainer checkpoint a run left on disk (its optimizer and scheduler state included)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.PositiveIntegerField()
    path = models.CharField(max_length=500, help_text="relative to the storage root")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="checkpoint_step_unique_in_run")]
        ordering = ["run", "step"]

    def __str__(self) -> str:
        return f"{self.run} @ {self.step}"


class MetricPoint(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metric_points")
    step = models.PositiveIntegerField()
    epoch = models.FloatField(null=True, blank=True)
    values = models.JSONField(help_text='{"loss": ..., "learning_rate": ..., "eval_loss": ...}')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["run", "step"])]
        ordering = ["step", "id"]


class ModelArtifact(TimeStampedModel):
    """A trained model, tied to the run and the data that made it."""

    class Kind(models.TextChoices):
        ADAPTER = "adapter", _("Adapter")
        MERGED = "merged", _("Merged weights")
        FULL = "full", _("Full weights")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="model_artifacts")
    name = models.CharField(max_length=200)
    run = models.OneToOneField(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="artifact")
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="artifacts")
    dataset_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="model_artifacts"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ADAPTER)
    path = models.CharField(max_length=500, help_text="relative to the storage root")
    is_partial = models.BooleanField(default=False, help_text="saved by a cancelled run before its planned end")
    source = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived",
                               help_text="the adapter this merged model was made from")

    def __str__(self) -> str:
        return self.name


class ModelExport(TimeStampedModel):
    """A model artifact in a form another runtime loads, made by a job and checked by loading it back: the export
    answers a fixed prompt greedily and `verification` records its tokens beside the source model's."""

    class Format(models.TextChoices):
        MERGED_BF16 = "merged_bf16", _("Merged weights (safetensors, bf16)")
        ONNX = "onnx", _("ONNX for CPU (onnxruntime)")
        VLLM = "vllm", _("vLLM command")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="model_exports")
    artifact = models.ForeignKey(ModelArtifact, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=16, choices=Format.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    path = models.CharField(max_length=500, blank=True, help_text="relative to the storage root; empty for a command")
    command = models.TextField(blank=True, help_text="vllm: the command that serves the artifact")
    is_verified = models.BooleanField(null=True,
                                      help_text="the export answered as the source model did; null: not checked yet")
    verification = models.JSONField(default=dict, blank=True,
                                    help_text="prompt, source_tokens, export_tokens, source_text, export_text, runtime")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["artifact", "format"], name="model_export_one_per_format"),
        ]

    def __str__(self) -> str:
        return f"{self.artifact_id} {self.format}"
