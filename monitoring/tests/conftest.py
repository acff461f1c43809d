"""Fixtures of the monitoring tests: the feedback source and ingest client, and a slot on the tiny model."""

import pytest

from feedback.tests.conftest import feedback_source, ingest_client, ingest_key  # noqa: F401


@pytest.fixture
def slot(workspace, tiny_base_model):
    from releases.services.deployments import deployment_create

    return deployment_create(workspace=workspace, name="support-bot", production=tiny_base_model)
