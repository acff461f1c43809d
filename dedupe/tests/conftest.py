"""Fixtures for dedupe tests: a small support dataset whose duplicates are known exactly.

Records are added through the real records service: first a forum scrape (source tier C), then the help desk's
own answers (tier A), so the better copy is always the later one and the keep policy has to look past "earliest".
"""

import pytest

from datahub.models import Record
from datahub.services.datasets import source_create
from datahub.services.records import records_bulk_create
from dedupe.services import dedupe_run_create, dedupe_run_execute


def chat(row: dict) -> dict:
    """An Alpaca-style row as a canonical conversation."""
    return {
        "messages": [{"role": "user", "content": row["instruction"]}, {"role": "assistant", "content": row["output"]}]
    }


REFUND_ANSWER = (
    "Refunds are issued to the original payment method within five business days after the warehouse receives "
    "the returned item. You will get an email with the refund amount and a tracking number for the return, "
    "and you can follow the status of the refund under Orders in your account at any time."
)

ZH_ANSWER = ("订单发货后一般三到五个工作日送达，偏远地区可能需要七个工作日。您可以在订单页面查看物流信息，"
             "如果超过十个工作日仍未收到包裹，请联系在线客服，我们会为您核实并补发。")

FORUM_ROWS = [
    {"instruction": "How do I reset my password?", "input": "",
     "output": "Open Settings, choose Security, then click Reset password and follow the link we email you."},
    {"instruction": "How can I get a refund for my order?", "input": "", "output": REFUND_ANSWER},
    {"instruction": "What is 2+2?", "input": "", "output": "4"},
    {"instruction": "What is 3+3?", "input": "", "output": "6"},
    {"instruction": "Which payment methods do you accept?", "input": "",
     "output": "We accept Visa, Mastercard, American Express, PayPal and bank transfer."},
    {"instruction": "我的包裹什么时候到？", "input": "", "output": ZH_ANSWER},
]

HELP_DESK_ROWS = [
    # the forum's password answer, differently cased and punctuated: a normalised exact duplicate
    {
        "instruction": "how do I reset my password",
        "input": "",
        "output": "open settings - choose security; then click reset password and follow the link we email you",
    },
    # the refund answer with its last word changed: a near duplicate (word 3-gram Jaccard 0.88)
    {
        "instruction": "How can I get a refund for my order?",
        "input": "",
        "output": REFUND_ANSWER.replace("any time.", "any moment."),
    },
    # the payment answer reworded: a semantic duplicate only
    {
        "instruction": "Which payment methods do you accept?",
        "input": "",
        "output": "We accept PayPal, bank transfer, Visa, Mastercard and American Express.",
    },
    {
        "instruction": "Can I change my delivery address after ordering?",
        "input": "",
        "output": "Yes, until the order ships: open the order and choose Change address.",
    },
    # the Chinese delivery question with one character changed: near duplicate on character 5-grams
    {"instruction": "我的包裹什么时候到？", "input": "", "output": ZH_ANSWER.replace("查看", "查询")},
]


@pytest.fixture
def forum(workspace):
    return source_create(workspace=workspace, name="Forum scrape", kind="public", quality_tier="C")


@pytest.fixture
def help_desk(workspace):
    return source_create(workspace=workspace, name="Help desk", kind="own", quality_tier="A")


@pytest.fixture
def support_dataset(dataset, forum, help_desk):
    """Eleven records: six from the forum (tier C) then five from the help desk (tier A)."""
    records_bulk_create(dataset=dataset, rows=[chat(r) for r in FORUM_ROWS], source=forum)
    records_bulk_create(dataset=dataset, rows=[chat(r) for r in HELP_DESK_ROWS], source=help_desk)
    return dataset


@pytest.fixture
def records_by_prompt(support_dataset):
    """(prompt, source name) -> record, for naming records in assertions."""
    records = Record.objects.filter(dataset=support_dataset).select_related("source")
    return {(r.messages[0]["content"], r.source.name): r for r in records}


@pytest.fixture
def dry_run(request):
    """Run a dry run synchronously through the services, as the command does; returns the finished run.
    Over the support dataset unless `dataset=` is given."""

    def run(**settings):
        dataset = settings.pop("dataset", None) or request.getfixturevalue("support_dataset")
        created = dedupe_run_create(dataset=dataset, run_in_background=False, **settings)
        return dedupe_run_execute(run=created)

    return run
