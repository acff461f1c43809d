from django.apps import AppConfig


class AugmentationConfig(AppConfig):
    """Augmentation runs, mixing and source grading (part of the data hub)."""

    name = "datahub.augmentation"
    label = "augmentation"
