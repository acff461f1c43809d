from django.db import models

from accounts.models import Workspace
from common.models import TimeStampedModel


class ModelEndpoint(TimeStampedModel):
    """Anything that speaks the OpenAI chat-completions protocol: Whetstone's own server, vLLM, a provider.

    The API key is never stored in clear: either the name of an environment variable that holds it, or the key
    encrypted with a key derived from SECRET_KEY. Neither is ever shown back.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="model_endpoints")
    name = models.CharField(max_length=200)
    base_url = models.URLField(max_length=500, help_text="e.g. http://127.0.0.1:8000/v1")
    model = models.CharField(max_length=300, help_text="the model name the endpoint expects")
    api_key_env = models.CharField(max_length=200, blank=True, help_text="name of an environment variable holding the key")
    api_key_encrypted = models.TextField(blank=True)
    timeout_seconds = models.FloatField(default=60.0)
    max_retries = models.PositiveSmallIntegerField(default=3)
    concurrency = models.PositiveSmallIntegerField(default=4, help_text="requests in flight at once for batch jobs")
    requests_per_minute = models.PositiveIntegerField(default=0, help_text="0 means no limit")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="model_endpoint_name_unique_in_workspace"),
            models.CheckConstraint(condition=models.Q(timeout_seconds__gt=0), name="model_endpoint_timeout_positive"),
            models.CheckConstraint(condition=models.Q(concurrency__gte=1), name="model_endpoint_concurrency_positive"),
        ]

    def __str__(self) -> str:
        return self.name
