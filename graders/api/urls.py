from django.urls import path

from graders.api import views

urlpatterns = [
    path("graders/", views.GradersApi.as_view(), name="api-graders"),
    path("graders/<int:grader_id>/", views.GraderDetailApi.as_view(), name="api-grader"),
    path("graders/bench/", views.GraderBenchApi.as_view(), name="api-grader-bench"),
]
