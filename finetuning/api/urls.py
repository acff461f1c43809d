"""Mounted at /v1/ before the model server's own routes (config.urls), which answer every other /v1/ path."""

from django.urls import path

from finetuning.api import views

urlpatterns = [
    path("files", views.files_view, name="openai-files"),
    path("files/<str:file_id>", views.file_view, name="openai-file"),
    path("files/<str:file_id>/content", views.file_content_view, name="openai-file-content"),
    path("fine_tuning/jobs", views.jobs_view, name="openai-jobs"),
    path("fine_tuning/jobs/<str:job_id>", views.job_view, name="openai-job"),
    path("fine_tuning/jobs/<str:job_id>/events", views.job_events_view, name="openai-job-events"),
    path("fine_tuning/jobs/<str:job_id>/checkpoints", views.job_checkpoints_view, name="openai-job-checkpoints"),
    path("fine_tuning/jobs/<str:job_id>/cancel", views.job_action_view, {"action": "cancel"}, name="openai-job-cancel"),
    path("fine_tuning/jobs/<str:job_id>/pause", views.job_action_view, {"action": "pause"}, name="openai-job-pause"),
    path("fine_tuning/jobs/<str:job_id>/resume", views.job_action_view, {"action": "resume"}, name="openai-job-resume"),
    path("models/<path:model_id>", views.model_view, name="openai-model"),
]
