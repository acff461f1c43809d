"""The navigation marks exactly one entry active: the one whose address is the longest prefix of the page's."""

import re

import pytest
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "active"), [("/feedback/", "Feedback"), ("/feedback/workbench/", "Best of N"),
                                              ("/data/", "Data"), ("/", None)])
def test_one_entry_is_active(users, path, active):
    client = Client()
    client.force_login(users["ml_engineer"])
    html = client.get(path).content.decode()
    assert re.findall(r'<a href="[^"]*" class="active">([^<]+)</a>', html) == ([active] if active else [])
