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
    api_key_env = models.CharField(
        max_length=200, blank=True, help_text="name of an environment variable holding the key"
    )
    api_key_encrypted = models.TextField(blank=True)
    timeout_seconds = models.FloatField(default=60.0)
    max_retries = models.PositiveSmallIntegerField(default=3)
    backoff_seconds = models.FloatField(
        default=0.5, help_text="first retry waits this long; each further retry doubles it"
    )
    concurrency = models.PositiveSmallIntegerField(default=4, help_text="requests in flight at once for batch jobs")
    requests_per_minute = models.PositiveIntegerField(default=0, help_text="0 means no limit")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="model_endpoint_name_unique_in_workspace"),
            models.CheckConstraint(condition=models.Q(timeout_seconds__gt=0), name="model_endpoint_timeout_positive"),
            models.CheckConstraint(condition=models.Q(concurrency__gte=1), name="model_endpoint_concurrency_positive"),
            models.CheckConstraint(
                condition=models.Q(backoff_seconds__gte=0), name="model_endpoint_backoff_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_env or self.api_key_encrypted)


class ModelCall(models.Model):
    """One chat completion asked of an endpoint: what it cost (tokens, time) and how it ended. Cache hits are logged
    too."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"

    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.CASCADE, related_name="calls")
    purpose = models.CharField(max_length=200, blank=True, help_text="what asked: e.g. 'judge study 4'")
    model = models.CharField(max_length=300)
    status = models.CharField(max_length=8, choices=Status.choices)
    cached = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="HTTP requests sent; 0 for a cache hit")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "created_at"])]
        ordering = ["-created_at", "-id"]


class CachedResponse(models.Model):
    """A deterministic request's response, keyed by the SHA-256 of the full request (base URL, model, every parameter,
    messages), so a job run again does not pay twice."""

    key = models.CharField(max_length=64, unique=True)
    endpoint = models.ForeignKey(ModelEndpoint, null=True, on_delete=models.SET_NULL, related_name="+")
    # JSON as text, not JSONField: model output may hold U+0000, which PostgreSQL's jsonb refuses; json.dumps escapes
    # it.
    request = models.TextField()
    response = models.TextField()
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
