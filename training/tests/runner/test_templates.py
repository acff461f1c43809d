"""Template facts and fixes on templates made for the purpose (the real ones: training/tests/test_real_models.py)."""

import subprocess
import sys
from datetime import date

from django.conf import settings

from training.runner.encoding import row_prepare, sft_encode
from training.runner.templates import chat_plan, date_pinned_template, reasoning_kept_template, render, template_facts
from training.tiny_model import CHAT_TEMPLATE

DATED = "{{- '<|im_start|>system\\nToday is ' + strftime_now('%d %b %Y') + '.<|im_end|>\\n' }}" + CHAT_TEMPLATE
CONVERSATION = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def tokenizer_with(tiny_model_dir, template: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = template
    return tokenizer


def test_a_template_that_writes_the_date_is_pinned_to_the_runs_day(tiny_model_dir):
    tokenizer = tokenizer_with(tiny_model_dir, DATED)
    assert template_facts(tokenizer).writes_date is True
    plan = chat_plan(tokenizer, day=date(2025, 1, 2))
    assert plan.pinned_date == "2025-01-02"
    assert render(tokenizer, CONVERSATION, chat_template=plan.chat_template).startswith(
        "<|im_start|>system\nToday is 02 Jan 2025."
    )
    # Asked to answer, the model's own template with the same day: the prompt the trained reply follows.
    encoded = sft_encode(tokenizer, row_prepare({"messages": CONVERSATION}, plan), plan, assistant_only_loss=True)
    assert "Today is 02 Jan 2025." in tokenizer.decode(encoded["input_ids"])
    assert date_pinned_template("{{ strftime_now('%Y') }}", date(2025, 1, 2)).endswith("{{ strftime_now('%Y') }}")


def test_the_reasoning_deletion_is_taken_out_of_a_template_only_where_it_is():
    template = "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    assert reasoning_kept_template(template) == "{% if '</think>' in content %}{% set content = content %}{% endif %}"
    assert reasoning_kept_template(CHAT_TEMPLATE) is None


def test_the_runner_imports_no_django():
    code = (
        "import sys; import training.runner.sft, training.runner.preference, training.runner.encoding, "
        "training.runner.templates, training.runner.notices; print(sorted(m for m in sys.modules if m.startswith('django')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "", "HF_HUB_OFFLINE": "1"},
    )
    assert result.stdout.strip() == "[]"
