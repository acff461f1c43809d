"""Label examples: stored with the published schema, shown to annotators on the workbench and in the API, and given to
AI annotators in their prompt."""

import pytest
from django.urls import reverse

from annotation.models import Label
from annotation.services import label_schema_create
from annotation.services.ai_annotators import label_choices
from annotation.services.ai_answers import ai_prompt_fill
from annotation.label_tree import label_tree_from_text

TREE_TEXT = """billing: Money questions
  refund: Money back for a return.
    > Where is my refund?
    > 我退货了，钱什么时候到？
  invoice
account
  login
"""


@pytest.fixture
def example_schema(workspace, users):
    return label_schema_create(workspace=workspace, name="With examples", tree=label_tree_from_text(TREE_TEXT),
                               created_by=users["ml_engineer"])


def test_examples_are_stored_and_served(example_schema, api_for, users):
    assert Label.objects.get(schema=example_schema, path="billing/refund").examples == [
        "Where is my refund?",
        "我退货了，钱什么时候到？",
    ]
    assert Label.objects.get(schema=example_schema, path="billing/invoice").examples == []
    schemas = api_for(users["ml_engineer"]).get("/api/v1/label-schemas/").json()["results"]
    refund = next(s for s in schemas if s["id"] == example_schema.pk)["labels"][0]["children"][0]
    assert (refund["path"], refund["examples"]) == (
        "billing/refund",
        ["Where is my refund?", "我退货了，钱什么时候到？"],
    )


def test_the_workbench_explains_each_label(example_schema, annotation_project_factory, users, client):
    project = annotation_project_factory(n=1, schema=example_schema)
    client.force_login(users["crowd_annotator"])
    page = client.post(reverse("annotation:workbench", args=[project.pk]), follow=True).content.decode()
    guide = page.split('id="label-guide"')[1].split("</details>")[0]
    assert (
        "<code>billing/refund</code>" in guide
        and "<li>Where is my refund?</li>" in guide
        and "<li>我退货了，钱什么时候到？</li>" in guide
    )
    assert "<code>billing/invoice</code>" not in guide  # nothing to explain
    assert 'title="Money back for a return.&#10;· Where is my refund?&#10;· 我退货了，钱什么时候到？"' in page


def test_ai_annotators_get_the_examples_in_their_prompt(example_schema, topic_schema):
    choices = dict(label_choices(schema=example_schema))
    assert choices == {
        "billing/refund": 'Money back for a return. Examples: "Where is my refund?"; "我退货了，钱什么时候到？"',
        "billing/invoice": "",
        "account/login": "",
    }
    # A schema without examples gives the prompt it always gave.
    assert label_choices(schema=topic_schema) == [
        ("account/delete", ""),
        ("account/login", ""),
        ("billing/invoice", ""),
        ("billing/refund", ""),
    ]
    from datahub.models import Record

    record = Record(kind="sft", messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}])
    prompt = ai_prompt_fill(
        template="{labels}", record=record, choices=label_choices(schema=example_schema), multiple=False
    )
    assert '- billing/refund: Money back for a return. Examples: "Where is my refund?"' in prompt
