"""The OpenAPI document describes every endpoint: generating it raises no warning or error."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO(), stderr=StringIO()
    )
    schema = out.read_text()
    for path in (
        "/api/v1/feedback/events",
        "/api/v1/datasets/{dataset_id}/dedupe-runs/",
        "/api/v1/versions/{version_id}/card/",
        "/api/v1/model-artifacts/{artifact_id}/download/",
    ):
        assert f"  {path}:" in schema, path


@pytest.mark.django_db
def test_the_schema_and_the_docs_need_a_login(client, users, api_for):
    assert client.get("/api/v1/schema/").status_code == 403
    for path in ("/api/v1/docs/", "/api/v1/redoc/"):
        response = client.get(path)
        assert (response.status_code, response.url) == (302, f"/login/?next={path}")
    assert api_for(users["crowd_annotator"]).get("/api/v1/schema/").status_code == 200


@pytest.mark.django_db
def test_the_docs_load_swagger_ui_and_redoc_from_this_server(client, users):
    from django.contrib.staticfiles import finders

    client.force_login(users["ml_engineer"])
    for path, asset in (
        ("/api/v1/docs/", "swagger-ui-dist/swagger-ui-bundle.js"),
        ("/api/v1/redoc/", "redoc/bundles/redoc.standalone.js"),
    ):
        page = client.get(path).content.decode()
        assert f"/static/drf_spectacular_sidecar/{asset}" in page
        assert "cdn" not in page.lower() and "https://" not in page
        assert finders.find(f"drf_spectacular_sidecar/{asset}") is not None
