from django.apps import AppConfig


class DedupeConfig(AppConfig):
    """Exact, near-duplicate and semantic dedupe runs over datasets (part of the data hub)."""

    name = "datahub.dedupe"
    label = "dedupe"
