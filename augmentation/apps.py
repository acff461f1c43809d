from django.apps import AppConfig


class AugmentationConfig(AppConfig):
    """Augmentation runs, mixing and source grading over the data hub's records."""

    name = "augmentation"
    label = "augmentation"
