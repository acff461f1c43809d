from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    """Production feedback: like / dislike, best-of-N and edits, turned into training data."""

    name = "feedback"
    label = "feedback"
