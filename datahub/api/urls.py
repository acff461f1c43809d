from django.urls import path

from datahub.api import views

urlpatterns = [
    path("sources/", views.SourcesApi.as_view(), name="api-sources"),
    path("datasets/", views.DatasetsApi.as_view(), name="api-datasets"),
    path("datasets/<int:dataset_id>/", views.DatasetDetailApi.as_view(), name="api-dataset"),
    path("datasets/<int:dataset_id>/records/", views.DatasetRecordsApi.as_view(), name="api-dataset-records"),
    path("datasets/<int:dataset_id>/records/tags/", views.DatasetRecordTagsApi.as_view(), name="api-dataset-record-tags"),
    path("datasets/<int:dataset_id>/imports/", views.DatasetImportsApi.as_view(), name="api-dataset-imports"),
    path("datasets/<int:dataset_id>/versions/", views.DatasetVersionsApi.as_view(), name="api-dataset-versions"),
    path("imports/<int:import_job_id>/", views.ImportJobDetailApi.as_view(), name="api-import-job"),
    path("imports/<int:import_job_id>/errors/", views.ImportJobErrorsApi.as_view(), name="api-import-job-errors"),
    path("imports/<int:import_job_id>/resume/", views.ImportJobResumeApi.as_view(), name="api-import-job-resume"),
    path("versions/<int:version_id>/", views.VersionDetailApi.as_view(), name="api-version"),
    path("versions/<int:version_id>/export/", views.VersionExportApi.as_view(), name="api-version-export"),
    path("versions/<int:version_id>/export/hf/", views.VersionExportHfApi.as_view(), name="api-version-export-hf"),
    path("versions/<int:version_id>/leakage/", views.VersionLeakageApi.as_view(), name="api-version-leakage"),
    path("versions/<int:version_id>/card/", views.VersionCardApi.as_view(), name="api-version-card"),
    path("versions/<int:version_id>/diff/", views.VersionDiffApi.as_view(), name="api-version-diff"),
]
