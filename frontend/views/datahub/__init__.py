"""Browser pages of the datahub: datasets, imports with live progress, frozen versions and their export.

Forms (forms.py) play the input serializer's part; every change goes through the same services as the API, and
every fetch through datahub.access, so the pages hold no rules of their own. datasets.py holds the pages of datasets,
sources and imports, versions.py those of frozen versions.
"""

from django.urls import path

from frontend.views.datahub.datasets import (
    dataset_delete_view,
    dataset_detail_view,
    dataset_freeze_view,
    dataset_import_view,
    dataset_list_view,
    dataset_records_tag_view,
    import_job_errors_view,
    import_job_resume_view,
    import_job_view,
    source_create_view,
    source_stats_view,
)
from frontend.views.datahub.versions import (
    version_card_view,
    version_detail_view,
    version_diff_view,
    version_export_hf_view,
    version_export_view,
    version_leakage_view,
)

app_name = "datahub"


urlpatterns = [
    path("", dataset_list_view, name="dataset-list"),
    path("sources/new/", source_create_view, name="source-create"),
    path("sources/", source_stats_view, name="source-stats"),
    path("datasets/<int:dataset_id>/", dataset_detail_view, name="dataset-detail"),
    path("datasets/<int:dataset_id>/import/", dataset_import_view, name="dataset-import"),
    path("datasets/<int:dataset_id>/records/tag/", dataset_records_tag_view, name="dataset-records-tag"),
    path("datasets/<int:dataset_id>/freeze/", dataset_freeze_view, name="dataset-freeze"),
    path("datasets/<int:dataset_id>/delete/", dataset_delete_view, name="dataset-delete"),
    path("imports/<int:import_job_id>/", import_job_view, name="import-job"),
    path("imports/<int:import_job_id>/errors/", import_job_errors_view, name="import-job-errors"),
    path("imports/<int:import_job_id>/resume/", import_job_resume_view, name="import-job-resume"),
    path("versions/<int:version_id>/", version_detail_view, name="version-detail"),
    path("versions/<int:version_id>/export/", version_export_view, name="version-export"),
    path("versions/<int:version_id>/export/hf/", version_export_hf_view, name="version-export-hf"),
    path("versions/<int:version_id>/leakage/", version_leakage_view, name="version-leakage"),
    path("versions/<int:version_id>/card/", version_card_view, name="version-card"),
    path("versions/<int:version_id>/diff/", version_diff_view, name="version-diff"),
]
