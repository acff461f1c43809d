from django.urls import include, path

urlpatterns = [
    path("", include("frontend.views.home")),
    path("data/", include("frontend.views.datahub")),
    path("annotate/", include("frontend.views.annotation")),
    path("training/", include("frontend.views.training")),
    path("studies/", include("frontend.views.evaluation")),
    path("endpoints/", include("frontend.views.llm")),
]
