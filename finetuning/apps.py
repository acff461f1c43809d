from django.apps import AppConfig


class FinetuningConfig(AppConfig):
    name = "finetuning"
    verbose_name = "Fine-tuning API"
