from django.apps import AppConfig


class DedupeConfig(AppConfig):
    """Exact, near-duplicate and semantic dedupe runs over the data hub's datasets."""

    name = "dedupe"
    label = "dedupe"
