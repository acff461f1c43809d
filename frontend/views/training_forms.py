"""The forms of the training pages: launching and retrying a run, registering a base model. They play the input
serializers' part: the services check every value again."""


from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from datahub.models import Record
from graders.selectors import graders_in
from training.models import TrainingRun
from training.selectors import (
    base_model_choices,
    dataset_version_choices,
)
from training.runner.config import TEXT_LIMIT
from training.services.hyperparameters import HYPERPARAMETERS, hyperparameter_defaults
from training.services.probes import PROBE_LIMIT


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, version):
        label = _("%(workspace)s / %(dataset)s v%(number)s (%(train)s train, %(validation)s validation)") % {
            "workspace": version.dataset.workspace.name, "dataset": version.dataset.name, "number": version.number,
            "train": version.counts.get("train", 0), "validation": version.counts.get("validation", 0)}
        # The kind of records says which method can train on the version, before anyone picks one that cannot.
        kind = getattr(version, "train_kind", None)
        return f"{label} · {Record.Kind(kind).label}" if kind in Record.Kind.values else label


class BaseModelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, base_model):
        return f"{base_model.workspace.name} / {base_model.name}"


class GraderChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, grader):
        return f"{grader.workspace.name} / {grader.name} ({grader.get_kind_display()})"


def _hyperparameter_fields_add(form: forms.Form, *, initial: dict | None) -> None:
    """One field per hyperparameter, with its recommended range as help text. `initial` (a run's values) prefills
    them; without it, the defaults do, and max_length is left empty for the service to cap at the model's context."""
    defaults = hyperparameter_defaults()
    for spec in HYPERPARAMETERS:
        value = (initial or {}).get(spec.name, defaults[spec.name])
        if spec.kind is bool:
            form.fields[spec.name] = forms.BooleanField(
                label=spec.label, initial=value, required=False, help_text=spec.recommended
            )
            continue
        if spec.kind is str and not spec.choices:
            # Left blank, the service's default applies (all-linear for the LoRA targets).
            form.fields[spec.name] = forms.CharField(
                label=spec.label, initial=value, required=False, help_text=spec.recommended, max_length=TEXT_LIMIT,
                empty_value=None,
            )
            continue
        if spec.kind is str:
            form.fields[spec.name] = forms.TypedChoiceField(
                label=spec.label, initial=value, required=False, help_text=spec.recommended, empty_value=None,
                choices=[(choice, choice) for choice in spec.choices],
            )
            continue
        field_class = forms.IntegerField if spec.kind is int else forms.FloatField
        if initial is None and spec.name == "max_length":
            value = None
        placeholder = (
            _("%(default)s or the model's context, if shorter") % {"default": defaults[spec.name]}
            if value is None
            else ""
        )
        form.fields[spec.name] = field_class(
            label=spec.label, initial=value, min_value=spec.minimum, max_value=spec.maximum, required=False,
            help_text=spec.recommended, widget=forms.NumberInput(attrs={"step": "any", "placeholder": placeholder}),
        )


class RunForm(forms.Form):
    """The run's name, model, data and adapter, then one field per hyperparameter with its recommended range."""

    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    # No blank choice: with one model or one version (the usual start) it is already chosen.
    base_model = BaseModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Base model"))
    dataset_version = VersionChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Dataset version"))
    method = forms.ChoiceField(
        choices=TrainingRun.Method.choices,
        initial=TrainingRun.Method.SFT,
        label=gettext_lazy("Method"),
        help_text=gettext_lazy(
            "SFT learns conversations; DPO learns from chosen/rejected pairs; KTO from "
            "answers marked liked or disliked; GRPO samples answers to conversations' prompts and learns from the "
            "graders' scores against their last reply. The version's records must be of that kind."
        ),
    )
    adapter = forms.ChoiceField(
        choices=TrainingRun.Adapter.choices,
        initial=TrainingRun.Adapter.LORA,
        label=gettext_lazy("Adapter"),
        help_text=gettext_lazy(
            "LoRA: small trainable matrices on the chosen linear layers, base frozen. QLoRA: "
            "the same on a 4-bit base, for a quarter of the weight memory. Prompt "
            "tuning: learned virtual tokens only. Prefix tuning (P-tuning v2): learned keys and values in every "
            "layer, good for style. P-tuning: virtual tokens from a small trained encoder. Full: every weight, or "
            "only the last layers or named modules (most memory)."
        ),
    )

    graders = GraderChoiceField(
        queryset=None, required=False, label=gettext_lazy("Graders (GRPO)"),
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Each scores every sampled answer against the record's reference reply; try them on "
                               "the grader bench first."),
    )

    def __init__(self, *args, workspace_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["graders"].queryset = graders_in(workspace_ids=workspace_ids)
        self.fields["base_model"].queryset = base_model_choices(workspace_ids=workspace_ids)
        self.fields["dataset_version"].queryset = dataset_version_choices(workspace_ids=workspace_ids)
        _hyperparameter_fields_add(self, initial=None)

    override_memory = forms.BooleanField(
        required=False,
        label=gettext_lazy("Launch even if the memory estimate exceeds the training device"),
        help_text=gettext_lazy(
            "The estimate is conservative; a run that does not fit stops with an out-of-memory error."
        ),
    )
    probe_prompts = forms.CharField(
        required=False,
        label=gettext_lazy("Probe prompts"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "One prompt per line. The base model answers them before training and the trained model after "
            "it (greedy, same settings); the answers are shown side by side on the run page."
        ),
    )
    probe_test_count = forms.IntegerField(
        required=False, min_value=0, max_value=PROBE_LIMIT, initial=0, label=gettext_lazy("Probe with test prompts"),
        help_text=gettext_lazy("Also probe with the first N prompts of the version's test split."))

    def hyperparameters(self) -> dict:
        return {
            spec.name: self.cleaned_data[spec.name]
            for spec in HYPERPARAMETERS
            if self.cleaned_data.get(spec.name) is not None
        }

    def probe_prompts_list(self) -> list[str]:
        return [line.strip() for line in (self.cleaned_data.get("probe_prompts") or "").splitlines() if line.strip()]

    def hyperparameter_fields(self):
        return [self[spec.name] for spec in HYPERPARAMETERS]

    def probe_fields(self):
        return [self["probe_prompts"], self["probe_test_count"]]

    def setup_fields(self):
        return [self[name] for name in ("name", "base_model", "dataset_version", "method", "adapter", "graders")]


class RetryForm(forms.Form):
    """A retry of a finished run: a new name, the run's hyperparameters to edit, and whether to resume."""

    name = forms.CharField(max_length=200, required=False, label=gettext_lazy("Name"),
                           help_text=gettext_lazy("Left empty: the old name with “(retry)”."))
    resume = forms.BooleanField(required=False, label=gettext_lazy("Continue from the last checkpoint"))
    override_memory = RunForm.base_fields["override_memory"]

    def __init__(self, *args, run, **kwargs):
        super().__init__(*args, **kwargs)
        _hyperparameter_fields_add(self, initial=run.hyperparameters)

    def hyperparameters(self) -> dict:
        return {
            spec.name: self.cleaned_data[spec.name]
            for spec in HYPERPARAMETERS
            if self.cleaned_data.get(spec.name) is not None
        }

    def hyperparameter_fields(self):
        return [self[spec.name] for spec in HYPERPARAMETERS]


class BaseModelForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Workspace"))
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    path = forms.CharField(
        max_length=500,
        label=gettext_lazy("Path on the server"),
        help_text=gettext_lazy(
            "A model directory with config.json, weights and tokenizer: absolute, under "
            "one of the model roots the operator allows, or relative to this workspace's "
            "storage."
        ),
    )

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces
