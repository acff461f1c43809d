"""`manage.py demo` serves the built-in model server at its own address; the outbound policy must let endpoints reach
it."""

import os

from demo.management.commands.demo import own_server_allow
from llm.outbound import base_url_check


def test_the_demo_allows_its_own_model_server_and_keeps_the_operators_allowances(settings, monkeypatch):
    monkeypatch.setenv("WHETSTONE_OUTBOUND_PRIVATE_ALLOWED", "10.0.0.0/8")  # restored after the test
    settings.OUTBOUND_PRIVATE_ALLOWED = ["10.0.0.0/8"]
    assert own_server_allow("127.0.0.1:8000") == "127.0.0.1:8000"
    assert own_server_allow("0.0.0.0:8001") == "127.0.0.1:8001"
    assert own_server_allow("127.0.0.1:8000") == "127.0.0.1:8000"
    assert settings.OUTBOUND_PRIVATE_ALLOWED == ["10.0.0.0/8", "127.0.0.1:8000", "127.0.0.1:8001"]
    #for the worker
    assert os.environ["WHETSTONE_OUTBOUND_PRIVATE_ALLOWED"] == "10.0.0.0/8,127.0.0.1:8000,127.0.0.1:8001"
    base_url_check("http://127.0.0.1:8000/v1")
