from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    """Production feedback: like / dislike, best-of-N and edits, turned into training data (part of annotation)."""

    name = "annotation.feedback"
    label = "feedback"
