import shutil

import pytest

from common.errors import ApplicationError
from common.models import HistoryEvent
from training.models import BaseModel
from training.services.base_models import base_model_register


def test_register_reads_config_counts_parameters_and_checks_the_template(workspace, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    base_model = base_model_register(workspace=workspace, name=" tiny-chat ", path=str(tiny_model_dir))

    expected = AutoModelForCausalLM.from_pretrained(tiny_model_dir).num_parameters()
    assert base_model.name == "tiny-chat"
    assert base_model.architecture == "LlamaForCausalLM"
    assert base_model.parameter_count == expected
    assert base_model.config["hidden_size"] == 64
    assert base_model.has_chat_template is True
    assert base_model.warnings == []
    assert base_model.chat_template_facts == {
        "turn_end": "<|im_end|>", "eos": "<|im_end|>", "drops_system_prompt": False, "strips_reasoning": False,
        "reasoning_field": False, "writes_date": False, "generation_prefill": "", "has_generation_markers": True,
        "trl_template": None}
    events = HistoryEvent.objects.filter(target_type="training.basemodel", target_id=base_model.pk)
    assert list(events.values_list("verb", flat=True)) == ["registered"]


def test_register_a_path_relative_to_the_workspace_storage(workspace, tiny_model_dir, settings):
    shutil.copytree(tiny_model_dir, settings.STORAGE_ROOT / "workspaces" / str(workspace.pk) / "models" / "tiny")
    base_model = base_model_register(workspace=workspace, name="tiny", path="models/tiny")
    assert base_model.path == f"workspaces/{workspace.pk}/models/tiny"
    assert base_model.has_chat_template is True


def test_register_warns_about_a_tokenizer_without_chat_template(workspace, tiny_model_dir, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_model_dir, bare)
    (bare / "chat_template.jinja").unlink()

    base_model = base_model_register(workspace=workspace, name="bare", path=str(bare))

    assert base_model.has_chat_template is False
    assert base_model.warnings == [
        "The tokenizer has no chat template: conversations cannot be written for training or chat."
    ]
    assert base_model.chat_template_facts == {}


def test_register_refuses_a_directory_without_config(workspace, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ApplicationError) as error:
        base_model_register(workspace=workspace, name="empty", path=str(tmp_path / "empty"))
    assert error.value.message == f"no config.json in {tmp_path / 'empty'}"
    assert error.value.where == "path"
    assert BaseModel.objects.count() == 0


def test_register_refuses_a_missing_directory_and_missing_weights(workspace, tiny_model_dir, tmp_path):
    with pytest.raises(ApplicationError, match=f"no model directory at {tmp_path / 'nowhere'}"):
        base_model_register(workspace=workspace, name="x", path=str(tmp_path / "nowhere"))
    weightless = tmp_path / "weightless"
    shutil.copytree(tiny_model_dir, weightless)
    (weightless / "model.safetensors").unlink()
    with pytest.raises(ApplicationError, match=r"no weights \(\*.safetensors or \*.bin\) in"):
        base_model_register(workspace=workspace, name="x", path=str(weightless))


def test_register_refuses_a_duplicate_name(tiny_base_model, workspace, tiny_model_dir):
    with pytest.raises(ApplicationError) as error:
        base_model_register(workspace=workspace, name="tiny-chat", path=str(tiny_model_dir))
    assert error.value.message == "a base model named 'tiny-chat' already exists in workspace 'Acme support'"
    assert BaseModel.objects.count() == 1
