"""The real public data under ../shared/data, for the tests that need it, in one place.

A test that needs a file or folder from there asks for it here. When it is absent the test is skipped, saying why, or
fails when WHETSTONE_REQUIRE_SHARED_DATA=1: CI sets it (.ci/run) and keeps ../shared beside its fresh clone, so a test
there can never pass by skipping. The root conftest offers `shared_data` (relative path -> Path) as a fixture.
"""

import os
from pathlib import Path
from typing import NoReturn

import pytest
from django.conf import settings

SHARED_DATA = Path(settings.BASE_DIR).parent / "shared" / "data"
REQUIRE_SHARED_DATA = "WHETSTONE_REQUIRE_SHARED_DATA"


def shared_data_absent(path: Path) -> NoReturn:
    """Skip the test because `path` under ../shared is missing, or fail it when WHETSTONE_REQUIRE_SHARED_DATA=1."""
    reason = f"real test data {path} is absent (CI keeps ../shared beside the checkout)"
    if os.environ.get(REQUIRE_SHARED_DATA) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_SHARED_DATA}=1 requires it")
    pytest.skip(f"{reason}; set {REQUIRE_SHARED_DATA}=1 to fail instead")


def shared_data_path(relative: str) -> Path:
    """The file or folder ../shared/data/`relative`; absent, the test skips or fails (see shared_data_absent)."""
    path = SHARED_DATA / relative
    if not path.exists():
        shared_data_absent(path)
    return path
