from django.urls import path, re_path

from training.server import views

urlpatterns = [
    path("models", views.models_list, name="server-models"),
    path("models/<path:model_id>", views.model_detail, name="server-model"),
    path("chat/completions", views.chat_completions, name="server-chat-completions"),
    re_path(r"^(?P<rest>.*)$", views.not_found),
]
