from common.errors import ApplicationError


class ModelCallError(ApplicationError):
    """A model call that failed for good: the message names the endpoint, the model and what went wrong.

    `status` is the last HTTP status (None for a timeout or a connection failure); `retryable` says whether the last
    failure was of the kind that retries (429, 5xx, timeouts), so a job can tell a flaky endpoint from a bad request.
    """

    def __init__(self, message: str, *, endpoint_name: str, status: int | None = None, retryable: bool = False,
                 attempts: int = 0):
        super().__init__(message, where=f"model endpoint {endpoint_name!r}", code="model_call_failed",
                         extra={"status": status, "attempts": attempts})
        self.endpoint_name = endpoint_name
        self.status = status
        self.retryable = retryable
        self.attempts = attempts
