from django.apps import AppConfig


class GradersConfig(AppConfig):
    name = "graders"
    verbose_name = "Graders"
    default_auto_field = "django.db.models.BigAutoField"
