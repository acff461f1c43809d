import json

import pytest
from django.core.management import CommandError, call_command

from training.models import BaseModel

pytestmark = pytest.mark.slow


def test_build_tiny_model_writes_into_the_store_and_registers_it(workspace, settings, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    call_command("build_tiny_model", workspace="Acme support", vocab_size=500)

    base_model = BaseModel.objects.get()
    assert (base_model.name, base_model.path, base_model.architecture, base_model.warnings) == (
        "tiny-chat", f"workspaces/{workspace.pk}/models/tiny-chat", "LlamaForCausalLM", [])
    model_dir = settings.STORAGE_ROOT / "workspaces" / str(workspace.pk) / "models" / "tiny-chat"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert base_model.parameter_count == model.num_parameters()
    config = model.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads,
            config.intermediate_size, config.max_position_embeddings) == (64, 2, 4, 2, 128, 512)
    assert tokenizer.eos_token == "<|im_end|>"
    chinese = "您好，请提供您的订单号。"
    assert tokenizer.decode(tokenizer(chinese)["input_ids"]) == chinese
    assert "registered base model 'tiny-chat'" in capsys.readouterr().out


def test_build_tiny_model_is_deterministic(workspace, other_workspace, tmp_path):
    call_command("build_tiny_model", workspace="Acme support", out=tmp_path / "a", vocab_size=400)
    call_command("build_tiny_model", workspace="Other team", out=tmp_path / "b", vocab_size=400)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "chat_template.jinja"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert BaseModel.objects.get(workspace=workspace).path == str(tmp_path / "a")


def test_build_tiny_model_trains_on_the_texts_given(workspace, tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"messages": [{"role": "user", "content": "zebra crossing " * 50}]}) + "\n")
    call_command("build_tiny_model", workspace="Acme support", out=tmp_path / "m", texts=texts, vocab_size=300)
    vocab = json.loads((tmp_path / "m" / "tokenizer.json").read_text())["model"]["vocab"]
    assert "Ġzebra" in vocab


@pytest.mark.parametrize(("options", "message"), [
    ({"workspace": "Nowhere"}, "--workspace: no workspace named 'Nowhere'"),
    ({"workspace": "Acme support", "vocab_size": 100},
     "--vocab-size: 100 is too small; byte-level BPE needs at least 259 (256 bytes + 3 special tokens)"),
])
def test_build_tiny_model_bad_options(workspace, options, message):
    with pytest.raises(CommandError) as error:
        call_command("build_tiny_model", **options)
    assert str(error.value) == message
    assert BaseModel.objects.count() == 0


def test_build_tiny_model_refuses_a_taken_name(tiny_base_model):
    with pytest.raises(
        CommandError, match="--name: a base model named 'tiny-chat' already exists in workspace 'Acme support'"
    ):
        call_command("build_tiny_model", workspace="Acme support")


def test_build_tiny_model_names_a_bad_texts_line(workspace, tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"messages": []}\n{oops\n')
    with pytest.raises(
        CommandError, match=r"texts.jsonl: not a JSON-lines file of conversations \(line 2: not valid JSON"
    ):
        call_command("build_tiny_model", workspace="Acme support", texts=texts)
