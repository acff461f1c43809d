from django.urls import include, path

urlpatterns = [
    path("", include("frontend.views.home")),
    path("data/", include("frontend.views.datahub")),
    path("dedupe/", include("frontend.views.dedupe")),
    path("augment/", include("frontend.views.augmentation")),
    path("annotate/", include("frontend.views.annotation")),
    path("feedback/", include("frontend.views.feedback")),
    path("training/", include("frontend.views.training")),
    path("fine-tuning/", include("frontend.views.finetuning")),
    path("studies/", include("frontend.views.evaluation")),
    path("general-checks/", include("frontend.views.general_eval")),
    path("endpoints/", include("frontend.views.llm")),
    path("account/", include("frontend.views.accounts")),
    path("graders/", include("frontend.views.graders")),
    path("models/", include("frontend.views.releases")),
    path("monitoring/", include("frontend.views.monitoring")),
]
