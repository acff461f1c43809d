from django.urls import path

from annotation.api import views

urlpatterns = [
    path("label-schemas/", views.LabelSchemaListApi.as_view(), name="api-label-schema-list"),
    path("annotation/projects/", views.ProjectListApi.as_view(), name="api-annotation-project-list"),
    path("annotation/projects/<int:project_id>/", views.ProjectDetailApi.as_view(), name="api-annotation-project-detail"),
    path("annotation/projects/<int:project_id>/claim/", views.ProjectClaimApi.as_view(), name="api-annotation-project-claim"),
    path("annotation/projects/<int:project_id>/export/", views.ProjectExportApi.as_view(), name="api-annotation-project-export"),
    path("annotation/assignments/<int:assignment_id>/submit/", views.AssignmentSubmitApi.as_view(),
         name="api-annotation-assignment-submit"),
    path("annotation/assignments/<int:assignment_id>/skip/", views.AssignmentSkipApi.as_view(), name="api-annotation-assignment-skip"),
]
