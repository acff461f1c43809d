"""Token lengths on the dataset card: the tiny model's chat template and tokenizer, counted exactly."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.urls import reverse

from datahub.models import Record
from datahub.services.records import records_bulk_create
from datahub.services.versions import dataset_version_create, dataset_version_freeze
from training.selectors import version_card_base_models, version_token_lengths


def sft(prompt: str, answer: str = "ok") -> dict:
    return {"kind": "sft", "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def preference(prompt: str) -> dict:
    return {
        "kind": "preference",
        "messages": [{"role": "user", "content": prompt}],
        "chosen": {"role": "assistant", "content": "Sure, here it is."},
        "rejected": {"role": "assistant", "content": "No."},
    }


def rendered_length(tokenizer, conversation: list[dict]) -> int:
    """Tokens of the conversation the way the test computes them: render the template to text, then tokenize it."""
    text = tokenizer.apply_chat_template(conversation, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.fixture
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture
def mixed_version(dataset):
    """Eight short conversations, a medium and a very long one, and one preference pair, all in train."""
    records_bulk_create(
        dataset=dataset, rows=[sft(f"Where is my order number {n}?", f"It ships on day {n}.") for n in range(8)]
    )
    records_bulk_create(
        dataset=dataset, rows=[sft("Please help " * 100, "Of course."), sft("Please help " * 400, "Sure.")]
    )
    records_bulk_create(dataset=dataset, rows=[preference("Can I get a refund?")])
    ids = sorted(Record.objects.filter(dataset=dataset).values_list("pk", flat=True))
    return dataset_version_create(dataset=dataset, entries=[(pk, "train", []) for pk in ids], operation="freeze")


def expected_lengths(tokenizer, version) -> list[int]:
    lengths = []
    for record in Record.objects.filter(version_entries__version=version).order_by("version_entries__pk"):
        conversation = record.messages + [record.chosen] if record.kind == "preference" else record.messages
        lengths.append(rendered_length(tokenizer, conversation))
    return sorted(lengths)


def test_token_lengths_are_the_chat_template_tokens(mixed_version, tiny_base_model, tokenizer):
    lengths = expected_lengths(tokenizer, mixed_version)
    assert lengths[-1] > 2048 > 1024 > lengths[-2] > 512 > lengths[-3]  # the long and the medium record
    tokens = version_token_lengths(version=mixed_version, base_model=tiny_base_model)
    assert (tokens["total"], tokens["measured"], tokens["sampled"], tokens["unrendered"]) == (11, 11, False, 0)
    assert (tokens["p50"], tokens["p95"], tokens["max"]) == (lengths[5], lengths[10], lengths[-1])
    assert tokens["over"] == [{"max_length": 512, "records": 2}, {"max_length": 1024, "records": 1},
                              {"max_length": 2048, "records": 1}]
    def bucket(length: int) -> str:
        lower = 0
        for edge in (64, 128, 256, 512, 1024, 2048, 4096, 8192):
            if length < edge:
                return f"{lower}–{edge - 1}"
            lower = edge
        return "≥8192"

    expected = {}
    for length in lengths:
        expected[bucket(length)] = expected.get(bucket(length), 0) + 1
    assert {label: n for label, n in tokens["histogram"].items() if n} == expected
    assert list(tokens["histogram"])[:2] == ["0–63", "64–127"] and sum(tokens["histogram"].values()) == 11


def test_above_the_cap_a_seeded_sample_is_measured(mixed_version, tiny_base_model, tokenizer):
    first = version_token_lengths(version=mixed_version, base_model=tiny_base_model, limit=4)
    assert (first["total"], first["measured"], first["sampled"], first["seed"]) == (11, 4, True, mixed_version.seed)
    assert sum(first["histogram"].values()) == 4
    assert first == version_token_lengths(version=mixed_version, base_model=tiny_base_model, limit=4)
    assert first["max"] in expected_lengths(tokenizer, mixed_version)


def test_card_page_states_the_sample_size(mixed_version, tiny_base_model, client, users, monkeypatch):
    monkeypatch.setattr("training.selectors.TOKEN_SAMPLE", 4)
    client.force_login(users["product_manager"])
    page = client.get(reverse("datahub:version-card", args=[mixed_version.pk]) + f"?base_model={tiny_base_model.pk}")
    assert f"over a sample of 4 of 11 records (seed {mixed_version.seed})" in page.content.decode()


@pytest.mark.parametrize("size", [1, 10])
def test_token_lengths_cost_the_same_queries_for_1_and_10_records(size, dataset, tiny_base_model, client, users,
                                                                    django_assert_num_queries):
    records_bulk_create(dataset=dataset, rows=[sft(f"question {n}") for n in range(size)])
    version = dataset_version_freeze(dataset=dataset, seed=1)
    with django_assert_num_queries(1):
        assert version_token_lengths(version=version, base_model=tiny_base_model)["measured"] == size
    client.force_login(users["product_manager"])
    url = reverse("datahub:version-card", args=[version.pk]) + f"?base_model={tiny_base_model.pk}"
    client.get(url)  # the session and the tokenizer files warm up once
    with django_assert_num_queries(10):
        assert client.get(url).status_code == 200


def test_card_page_offers_the_workspace_base_models_and_shows_token_figures(
    mixed_version, tiny_base_model, tokenizer, client, users, other_workspace, tiny_model_dir
):
    from training.services.base_models import base_model_register

    base_model_register(workspace=other_workspace, name="elsewhere-model", path=str(tiny_model_dir))
    lengths = expected_lengths(tokenizer, mixed_version)
    client.force_login(users["product_manager"])
    url = reverse("datahub:version-card", args=[mixed_version.pk])
    page = client.get(url).content.decode()
    assert 'name="base_model"' in page and f'<option value="{tiny_base_model.pk}" >tiny-chat</option>' in page
    assert "elsewhere-model" not in page and 'id="card-lengths"' in page and 'id="card-tokens"' not in page
    page = client.get(url + f"?base_model={tiny_base_model.pk}").content.decode()
    assert f'<option value="{tiny_base_model.pk}" selected>tiny-chat</option>' in page
    assert "over all 11 records" in page and 'id="card-token-lengths"' in page and 'id="card-lengths"' not in page
    assert f'id="card-tokens-p50">{lengths[5]}<' in page
    assert f'id="card-tokens-max">{lengths[-1]}<' in page and 'id="card-tokens-over-2048">1<' in page
    assert "Length (tokens)" in page


def test_card_api_counts_tokens_with_a_base_model_of_the_workspace(
    mixed_version, tiny_base_model, tokenizer, api_for, users
):
    lengths = expected_lengths(tokenizer, mixed_version)
    api = api_for(users["ml_engineer"])
    plain = api.get(f"/api/v1/versions/{mixed_version.pk}/card/")
    assert (plain.status_code, plain.json()["total"], plain.json()["tokens"]) == (200, 11, None)
    assert sum(plain.json()["lengths"].values()) == 11
    body = api.get(f"/api/v1/versions/{mixed_version.pk}/card/?base_model={tiny_base_model.pk}").json()
    tokens = body["tokens"]
    assert (tokens["base_model"], tokens["measured"], tokens["max"], tokens["p50"]) == ("tiny-chat", 11, lengths[-1],
                                                                                       lengths[5])
    assert tokens["over"][0] == {"max_length": 512, "records": 2}


def test_a_base_model_of_another_workspace_is_refused(mixed_version, tiny_base_model, other_workspace, tiny_model_dir,
                                                      api_for, users, client):
    from training.models import BaseModel
    from training.services.base_models import base_model_register

    foreign = base_model_register(workspace=other_workspace, name="elsewhere-model", path=str(tiny_model_dir))
    before = BaseModel.objects.count()
    api = api_for(users["ml_engineer"])
    for wrong in (foreign.pk, "abc", foreign.pk + 1000):
        response = api.get(f"/api/v1/versions/{mixed_version.pk}/card/?base_model={wrong}")
        assert response.status_code == 404 and "elsewhere" not in response.content.decode()
    # The outsider may see the foreign model in their own workspace, but not this version at all.
    outsider = api_for(users["outsider"]).get(f"/api/v1/versions/{mixed_version.pk}/card/?base_model={foreign.pk}")
    assert outsider.status_code == 404
    client.force_login(users["product_manager"])
    page = client.get(reverse("datahub:version-card", args=[mixed_version.pk]) + f"?base_model={foreign.pk}")
    assert page.status_code == 404 and "elsewhere" not in page.content.decode()
    assert version_card_base_models(user=users["ml_engineer"], version=mixed_version).get() == tiny_base_model
    assert BaseModel.objects.count() == before


def test_datahub_imports_without_torch_or_transformers():
    code = (
        "import sys, django; django.setup(); import datahub.selectors, datahub.api.views, datahub.api.urls; "
        "loaded = [m for m in ('torch', 'transformers') if m in sys.modules]; print(loaded); sys.exit(1 if loaded else 0)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr
