"""The forms of the annotation pages: label schemas, projects, their layers, submitting and skipping. They play the
input serializers' part: the services check every value again."""

from django import forms
from django.utils.translation import gettext_lazy as _

from annotation.label_tree import label_tree_from_text
from annotation.models import AnnotationProject
from annotation.selectors import (
    dataset_versions_for_annotation,
    label_schemas_for_user,
    workspaces_for_annotation_manage,
)
from annotation.services.projects import MAX_OVERLAP
from annotation.services.reviews import ANNOTATOR_POOLS
from common.errors import ApplicationError

TREE_EXAMPLE = (
    "billing: Money questions\n  refund\n    > Where is my money for the returned lamp?\n  invoice\naccount\n  login"
)


class LabelSchemaForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None, empty_label=None, label=_("Workspace"))
    name = forms.CharField(max_length=200, label=_("Name"))
    tree_text = forms.CharField(
        required=False,
        label=_("Labels"),
        widget=forms.Textarea(attrs={"rows": 8, "placeholder": TREE_EXAMPLE, "spellcheck": "false"}),
        help_text=_(
            "One label per line; indent a label under its parent. Text after \": \" is its description; a line "
            "starting with \">\" is an example of the label above it. Leave it empty for a schema that only asks "
            "the questions below (a rating, a ranking …)."
        ),
    )
    multiple = forms.BooleanField(required=False, label=_("Several labels may be picked"))
    leaf_only = forms.BooleanField(required=False, initial=True, label=_("Only the most specific labels may be picked"))
    rating_scale = forms.IntegerField(
        required=False, min_value=0, max_value=10, initial=0, label=_("Rating scale: 1 to N (0: no rating)")
    )
    rating_question = forms.CharField(required=False, max_length=300, label=_("What the rating measures"))
    free_text_question = forms.CharField(required=False, max_length=300, label=_("Free-text question (blank: none)"))
    pairwise_question = forms.CharField(required=False, max_length=300,
                                        label=_("A/B question on records with two answers (blank: none)"))
    ranking_question = forms.CharField(
        required=False,
        max_length=300,
        label=_("Ranking question (blank: none)"),
        help_text=_(
            "Asked on the answers to one prompt, grouped into one item (2 to 9 answers): "
            "annotators put them in order, best first."
        ),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces_for_annotation_manage(user=user)

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("tree_text") or "").strip():
            cleaned["tree"] = []  # the service says whether the schema may go without labels
        elif "tree_text" in cleaned:
            try:
                cleaned["tree"] = label_tree_from_text(cleaned["tree_text"])
            except ApplicationError as error:
                self.add_error("tree_text", f"{error.where}: {error.message}")
        return cleaned


class SchemaChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, schema):
        return f"{schema} · {schema.workspace.name}"


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, version):
        return f"{version} · {version.dataset.workspace.name}"


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("Name"))
    # No blank choice: the newest version and the first schema are already chosen.
    dataset_version = VersionChoiceField(queryset=None, empty_label=None, label=_("Dataset version"))
    schema = SchemaChoiceField(queryset=None, empty_label=None, label=_("Label schema"))
    overlap = forms.IntegerField(min_value=1, max_value=MAX_OVERLAP, initial=1, label=_("Annotations per item"))
    instructions = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label=_("Instructions for annotators")
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset_version"].queryset = dataset_versions_for_annotation(user=user)
        self.fields["schema"].queryset = label_schemas_for_user(user=user).prefetch_related(None)


class SubmitForm(forms.Form):
    """The labels arrive as repeated `label_ids` values; which ones the schema allows is the service's rule."""

    corrected_response = forms.CharField(required=False, strip=False)
    comment = forms.CharField(required=False, max_length=5000)
    rating = forms.IntegerField(required=False)
    free_text = forms.CharField(required=False, max_length=5000)
    preference = forms.CharField(required=False, max_length=3)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)


class LayersForm(forms.Form):
    """Shares are entered as percentages; the service takes shares between 0 and 1."""

    review_rate = forms.FloatField(min_value=0, max_value=100, label=_("Re-checked by reviewers (%)"))
    spot_check_rate = forms.FloatField(min_value=0, max_value=100, label=_("Spot-checked by experts (%)"))
    gold_rate = forms.FloatField(min_value=0, max_value=100, label=_("Gold items among labelled entries (%)"))
    disagreement_threshold = forms.FloatField(
        min_value=0, max_value=100, label=_("Disagreement sent to an expert above (%)")
    )
    blind = forms.BooleanField(required=False, label=_("Blind: annotators do not see each other's answers"))
    label_pools = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Who labels (none: everyone)"),
        choices=[(kind, kind) for kind in ANNOTATOR_POOLS],
    )
    # Not required: a post without it keeps the project's mode.
    mode = forms.ChoiceField(
        required=False,
        choices=AnnotationProject.Mode.choices,
        label=_("Mode"),
        help_text=_(
            "Human only: AI annotators may not run. AI labels beside people: an AI is one more "
            "annotator. AI first, human verifies: an AI answer completes its item and every one "
            "goes to the re-check queue; only accepted or fixed AI labels are exported, and a "
            "rejected item goes back to people."
        ),
    )

    @classmethod
    def for_project(cls, project):
        return cls(
            initial={
                "review_rate": round(100 * project.review_rate, 2),
                "spot_check_rate": round(100 * project.spot_check_rate, 2),
                "gold_rate": round(100 * project.gold_rate, 2),
                "disagreement_threshold": round(100 * project.disagreement_threshold, 2),
                "blind": project.blind,
                "label_pools": project.label_pools,
                "mode": project.mode,
            }
        )


class SkipForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)
