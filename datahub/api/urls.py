from django.urls import path

from datahub.api.views import datasets, imports, versions

urlpatterns = [
    path("sources/", datasets.SourcesApi.as_view(), name="api-sources"),
    path("datasets/", datasets.DatasetsApi.as_view(), name="api-datasets"),
    path("datasets/<int:dataset_id>/", datasets.DatasetDetailApi.as_view(), name="api-dataset"),
    path("datasets/<int:dataset_id>/records/", datasets.DatasetRecordsApi.as_view(), name="api-dataset-records"),
    path(
        "datasets/<int:dataset_id>/records/tags/",
        datasets.DatasetRecordTagsApi.as_view(),
        name="api-dataset-record-tags",
    ),
    path("datasets/<int:dataset_id>/imports/", imports.DatasetImportsApi.as_view(), name="api-dataset-imports"),
    path("datasets/<int:dataset_id>/versions/", versions.DatasetVersionsApi.as_view(), name="api-dataset-versions"),
    path("imports/<int:import_job_id>/", imports.ImportJobDetailApi.as_view(), name="api-import-job"),
    path("imports/<int:import_job_id>/errors/", imports.ImportJobErrorsApi.as_view(), name="api-import-job-errors"),
    path("imports/<int:import_job_id>/resume/", imports.ImportJobResumeApi.as_view(), name="api-import-job-resume"),
    path("versions/<int:version_id>/", versions.VersionDetailApi.as_view(), name="api-version"),
    path("versions/<int:version_id>/export/", versions.VersionExportApi.as_view(), name="api-version-export"),
    path("versions/<int:version_id>/export/hf/", versions.VersionExportHfApi.as_view(), name="api-version-export-hf"),
    path("versions/<int:version_id>/leakage/", versions.VersionLeakageApi.as_view(), name="api-version-leakage"),
    path("versions/<int:version_id>/card/", versions.VersionCardApi.as_view(), name="api-version-card"),
    path("versions/<int:version_id>/diff/", versions.VersionDiffApi.as_view(), name="api-version-diff"),
]
