"""The datahub pages' forms: they play the input serializer's part, the services check the rest."""

from django import forms
from django.utils.translation import gettext_lazy

from common.errors import ApplicationError
from datahub.models import ImportJob, Record, Source, VersionRecord
from datahub.splits import DEFAULT_RATIOS, SPLITS


class DatasetForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Workspace"))
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Description")
    )
    file = forms.FileField(
        required=False,
        allow_empty_file=True,
        label=gettext_lazy("First file (optional)"),
        help_text=gettext_lazy(
            "Imported right away, its format detected. Should the import fail, the dataset is not kept."
        ),
    )

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


class DatasetSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label=gettext_lazy("Search datasets"))


class SourceForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None, empty_label=None, label=gettext_lazy("Workspace"))
    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    kind = forms.ChoiceField(choices=Source.Kind.choices, initial=Source.Kind.OWN, label=gettext_lazy("Kind"))
    quality_tier = forms.ChoiceField(
        choices=Source.Tier.choices, initial=Source.Tier.B, label=gettext_lazy("Quality tier")
    )
    description = forms.CharField(required=False, label=gettext_lazy("Description"))

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File (JSON, JSONL, CSV, TSV or Parquet)"), allow_empty_file=True)
    format = forms.ChoiceField(
        choices=ImportJob.Format.choices, initial=ImportJob.Format.AUTO, label=gettext_lazy("Format")
    )
    source = forms.ModelChoiceField(
        queryset=None, required=False, label=gettext_lazy("Source"), empty_label=gettext_lazy("(none)")
    )
    container = forms.ChoiceField(choices=ImportJob.Container.choices, required=False, label=gettext_lazy("File type"))
    column_map = forms.CharField(
        required=False,
        label=gettext_lazy("Column mapping"),
        help_text=gettext_lazy("field=column pairs, comma-separated, e.g. instruction=question, output=answer"),
    )
    skip_invalid = forms.BooleanField(required=False, label=gettext_lazy("Skip invalid rows (and report them)"))
    max_record_chars = forms.IntegerField(
        required=False, min_value=100, label=gettext_lazy("Record size limit (characters)")
    )

    def __init__(self, *args, sources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = sources

    def clean_column_map(self) -> dict:
        mapping = {}
        for pair in filter(None, (p.strip() for p in self.cleaned_data["column_map"].split(","))):
            field, _, column = pair.partition("=")
            if not field.strip() or not column.strip():
                raise forms.ValidationError(gettext_lazy("Write each mapping as field=column."))
            mapping[field.strip()] = column.strip()
        return mapping


class RecordFilterForm(forms.Form):
    """The record browser's filters (GET). Plays the API's FilterSerializer part; record_search holds the rules."""

    q = forms.CharField(required=False, label=gettext_lazy("Search"))
    source = forms.ModelChoiceField(
        queryset=None, required=False, label=gettext_lazy("Source"), empty_label=gettext_lazy("(any)")
    )
    tag = forms.CharField(required=False, max_length=64, label=gettext_lazy("Tag"))
    kind = forms.ChoiceField(
        choices=[("", gettext_lazy("(any)")), *Record.Kind.choices], required=False, label=gettext_lazy("Kind")
    )
    label = forms.NullBooleanField(required=False, label=gettext_lazy("KTO label"), widget=forms.Select(choices=[
        ("", gettext_lazy("(any)")), ("true", gettext_lazy("desirable")), ("false", gettext_lazy("undesirable"))]))
    version = forms.IntegerField(required=False, min_value=1, label=gettext_lazy("Version"))
    split = forms.ChoiceField(choices=[("", gettext_lazy("(any)")), *VersionRecord.Split.choices], required=False,
                              label=gettext_lazy("Split"))
    min_length = forms.IntegerField(required=False, min_value=0, label=gettext_lazy("Min length"))
    max_length = forms.IntegerField(required=False, min_value=0, label=gettext_lazy("Max length"))

    def __init__(self, *args, sources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = sources


class TagForm(forms.Form):
    records = forms.CharField(widget=forms.HiddenInput, required=False)
    add = forms.CharField(required=False, max_length=200, label=gettext_lazy("Add tags (comma-separated)"))
    remove = forms.CharField(required=False, max_length=200, label=gettext_lazy("Remove tags"))

    @staticmethod
    def _tags(text: str) -> list[str]:
        return [t.strip() for t in text.split(",") if t.strip()]

    def values(self, record_ids: list[int]) -> dict:
        return {
            "record_ids": record_ids,
            "add": self._tags(self.cleaned_data["add"]),
            "remove": self._tags(self.cleaned_data["remove"]),
        }


class FreezeForm(forms.Form):
    seed = forms.IntegerField(initial=0, label=gettext_lazy("Seed"))
    train = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_RATIOS["train"], label=gettext_lazy("Train"))
    validation = forms.FloatField(
        min_value=0, max_value=1, initial=DEFAULT_RATIOS["validation"], label=gettext_lazy("Validation")
    )
    test = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_RATIOS["test"], label=gettext_lazy("Test"))
    note = forms.CharField(required=False, label=gettext_lazy("Note"))
    stratify = forms.BooleanField(
        required=False, label=gettext_lazy("Stratify by label (each kind and KTO label split in the ratios)")
    )

    def ratios(self) -> dict:
        return {split: self.cleaned_data[split] for split in SPLITS}


def add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    """Show a service's error beside the field it names, or above the form."""
    field = exc.where if exc.where in form.fields else None
    form.add_error(field, exc.message)
