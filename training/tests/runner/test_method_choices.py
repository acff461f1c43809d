"""The adapters and freezing beyond plain LoRA, trained for real on the tiny model on the CPU, a few steps each:
P-tuning v2 (prefix tuning), P-tuning, LoRA on chosen modules with DoRA and rsLoRA, full training of the last layers
or named modules. Each result loads again and generates."""

import pytest

from training.runner import sft
from training.runner.config import RunConfig
from training.runner.models import layers_freeze, lora_targets, model_prepare
from training.tests.fixtures import support_conversations
from training.tests.runner.test_methods import losses, write_rows
from training.tests.runner.test_sft import quick_config

pytestmark = pytest.mark.slow


@pytest.fixture
def sft_dir(tmp_path):
    return write_rows(tmp_path / "sft", [{"messages": row["messages"]} for row in support_conversations()[:10]])


def _generate(model, tokenizer) -> list[int]:
    import torch

    inputs = tokenizer("How do I reset my password?", return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=6, do_sample=False, min_new_tokens=6)
    return output[0, inputs["input_ids"].shape[1]:].tolist()


@pytest.mark.parametrize("adapter", ["prefix_tuning", "p_tuning"])
def test_prefix_and_p_tuning_learn_and_their_adapters_generate(adapter, tiny_model_dir, sft_dir, tmp_path):
    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = tmp_path / "out"
    result = sft.main(quick_config(tiny_model_dir, adapter=adapter, max_steps=6, learning_rate=3e-2,
                                   prompt_tuning_virtual_tokens=8), sft_dir, out_dir)

    assert (result["global_step"], result["artifact_kind"]) == (6, "adapter")
    # Two steps of 5 make an epoch over the 10 conversations: compare the first epoch's loss with the last's.
    assert sum(losses(out_dir)[-2:]) < sum(losses(out_dir)[:2])
    saved = PeftConfig.from_pretrained(out_dir / "adapter")
    assert (saved.peft_type.value, saved.num_virtual_tokens) == ({"prefix_tuning": "PREFIX_TUNING",
                                                                  "p_tuning": "P_TUNING"}[adapter], 8)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    untuned = _generate(base, tokenizer)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out_dir / "adapter")
    # Generation with the KV cache (prefix tuning's keys and values enter through it) gives 6 tokens, and the learned
    # prefix changes them: the adapter is applied while generating, not only in training.
    replies = _generate(tuned, tokenizer)
    assert len(replies) == 6
    assert replies != untuned


def test_lora_on_attention_with_dora_and_rslora(tiny_model_dir, sft_dir, tmp_path):
    from peft import PeftConfig

    out_dir = tmp_path / "out"
    result = sft.main(quick_config(tiny_model_dir, lora_target_modules="attention", use_dora=True, use_rslora=True,
                                   max_steps=4), sft_dir, out_dir)

    assert result["global_step"] == 4
    assert losses(out_dir)[-1] < losses(out_dir)[0]
    saved = PeftConfig.from_pretrained(out_dir / "adapter")
    assert sorted(saved.target_modules) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert (saved.use_dora, saved.use_rslora) == (True, True)


def test_lora_targets_resolve_presets_and_refuse_unknown_names(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert lora_targets(model, "all-linear") == "all-linear"
    assert lora_targets(model, "attention") == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert lora_targets(model, " q_proj, mlp.down_proj ,q_proj") == ["q_proj", "mlp.down_proj"]
    with pytest.raises(ValueError) as error:
        lora_targets(model, "q_proj,c_attn,query")
    assert str(error.value) == (
        "lora_target_modules: the model has no module named c_attn, query; its linear layers are down_proj, gate_proj, "
        "k_proj, lm_head, o_proj, q_proj, up_proj, v_proj")


def test_full_training_of_the_last_layer_and_the_final_norm_changes_nothing_else(tiny_model_dir, sft_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    out_dir = tmp_path / "out"
    result = sft.main(quick_config(tiny_model_dir, adapter="full", trainable_layers=1, trainable_modules="model.norm",
                                   max_steps=4, learning_rate=1e-3), sft_dir, out_dir)

    assert result["artifact_kind"] == "full"
    assert losses(out_dir)[-1] < losses(out_dir)[0]
    before = dict(AutoModelForCausalLM.from_pretrained(tiny_model_dir).named_parameters())
    after = dict(AutoModelForCausalLM.from_pretrained(out_dir / "model").named_parameters())
    changed = sorted(name for name in before if not torch.equal(before[name], after[name]))
    assert changed and all(name.startswith(("model.layers.1.", "model.norm.")) for name in changed)
    assert any(name.startswith("model.norm.") for name in changed)


def test_freezing_counts_the_trainable_weights_and_refuses_unknown_modules(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    layer = sum(p.numel() for name, p in model.named_parameters() if name.startswith("model.layers.1."))
    assert layers_freeze(model, trainable_layers=1, trainable_modules="") == layer
    assert layers_freeze(model, trainable_layers=0, trainable_modules="mlp") == sum(
        p.numel() for name, p in model.named_parameters() if ".mlp." in name)
    with pytest.raises(ValueError) as error:
        layers_freeze(model, trainable_layers=0, trainable_modules="mlp,ffn")
    assert str(error.value) == (
        "trainable_modules: the model has no module named ffn; its modules are named act_fn, down_proj, embed_tokens, "
        "gate_proj, input_layernorm, k_proj, layers, lm_head, mlp, model, norm, o_proj, post_attention_layernorm, "
        "q_proj, rotary_emb, self_attn, up_proj, v_proj")
    with pytest.raises(ValueError, match="trainable_layers: 3 asked, the model has 2 layers"):
        layers_freeze(model, trainable_layers=3, trainable_modules="")
    with pytest.raises(ValueError, match="no module named vproj"):
        model_prepare(RunConfig(base_model_path=str(tiny_model_dir), lora_target_modules="vproj"))
