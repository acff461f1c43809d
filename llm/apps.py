from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "Model calls"

    def ready(self):
        from llm import checks  # noqa: F401  (registers the outbound settings check)
