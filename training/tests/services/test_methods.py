"""Launching the adapters and freezing settings beyond plain LoRA: what each may train, module names checked against
the base model before the run is queued, the memory estimate they store, and a prefix-tuning run trained by the
`train` command from start to finish."""

import pytest
from django.core.management import call_command

from common.errors import ApplicationError
from training.models import BaseModel, ModelArtifact, TrainingRun
from training.services.hyperparameters import hyperparameters_clean
from training.services.memory import training_memory_check
from training.services.runs import training_run_create


def _create(workspace, base_model, version, *, adapter="lora", method="sft", **hyperparameters):
    return training_run_create(workspace=workspace, name="m", base_model=base_model, dataset_version=version,
                               method=method, adapter=adapter, hyperparameters=hyperparameters)


@pytest.mark.parametrize(("adapter", "hyperparameters", "where", "message"), [
    ("lora", {"lora_target_modules": "q_proj, qkv"}, "hyperparameters.lora_target_modules",
     "base model 'tiny-chat': lora_target_modules: the model has no module named qkv; its linear layers are "
     "down_proj, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj"),
    ("full", {"trainable_modules": "lm_head,decoder"}, "hyperparameters.trainable_modules",
     "base model 'tiny-chat': trainable_modules: the model has no module named decoder; its modules are named act_fn, "
     "down_proj, embed_tokens, gate_proj, input_layernorm, k_proj, layers, lm_head, mlp, model, norm, o_proj, "
     "post_attention_layernorm, q_proj, rotary_emb, self_attn, up_proj, v_proj"),
    ("full", {"trainable_layers": 5}, "hyperparameters.trainable_layers",
     "base model 'tiny-chat': trainable_layers: 5 asked, the model has 2 layers"),
    ("lora", {"trainable_layers": 1}, "hyperparameters.trainable_layers",
     "trainable_layers chooses what full training trains; an adapter trains only itself"),
    ("prefix_tuning", {"packing": True}, "hyperparameters.packing",
     "packing needs each conversation's own position ids, which Prefix tuning (P-tuning v2) ignores"),
    ("prefix_tuning", {"lora_target_modules": "x" * 501}, "hyperparameters.lora_target_modules",
     "lora_target_modules must be a text of at most 500 characters"),
])
def test_settings_that_cannot_train_are_refused_naming_the_field(workspace, tiny_base_model, sft_version, adapter,
                                                                 hyperparameters, where, message):
    with pytest.raises(ApplicationError) as error:
        _create(workspace, tiny_base_model, sft_version, adapter=adapter, **hyperparameters)
    assert (error.value.where, str(error.value.message)) == (where, message)
    assert TrainingRun.objects.count() == 0


def test_prefix_and_p_tuning_train_sft_only(workspace, tiny_base_model, preference_version):
    with pytest.raises(ApplicationError) as error:
        _create(workspace, tiny_base_model, preference_version, adapter="p_tuning", method="dpo")
    assert (error.value.where, str(error.value.message)) == (
        "adapter", "P-tuning trains SFT runs only; use LoRA for DPO")


def test_each_setting_is_stored_and_counted_in_the_memory_estimate(workspace, tiny_base_model, sft_version):
    attention = _create(workspace, tiny_base_model, sft_version, lora_target_modules="attention", use_dora=True,
                        use_rslora=True)
    prefix = _create(workspace, tiny_base_model, sft_version, adapter="prefix_tuning", prompt_tuning_virtual_tokens=16)
    assert (attention.hyperparameters["lora_target_modules"], attention.hyperparameters["use_dora"],
            attention.hyperparameters["use_rslora"]) == ("attention", True, True)
    assert prefix.hyperparameters["prompt_tuning_virtual_tokens"] == 16

    # The tiny model's parts round to 0.00 GiB; an 8B model's show what each setting costs.
    llama = BaseModel(name="llama-3.1-8b", config={
        "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "intermediate_size": 14336, "vocab_size": 128256})

    def trainable(adapter, **settings) -> float:
        values = hyperparameters_clean(values=settings)
        return training_memory_check(base_model=llama, method="sft", adapter=adapter,
                                     hyperparameters=values).as_dict()["parts"]["trainable"]

    assert trainable("lora") == 0.62  # 41.9M LoRA parameters at r16 on every linear layer, 16 bytes each
    assert trainable("lora", lora_target_modules="attention") == 0.2
    assert trainable("lora", lora_target_modules="attention", use_dora=True) == 0.21
    assert trainable("full") == 44.87  # 8.03B parameters, 6 bytes each (pure bf16)
    assert trainable("full", trainable_layers=4) == 4.88
    assert trainable("prefix_tuning", prompt_tuning_virtual_tokens=20) == 0.02


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("adapter", ["prefix_tuning", "p_tuning"])
def test_the_train_command_trains_prefix_and_p_tuning_to_an_adapter(tiny_base_model, sft_version, adapter, capsys):
    call_command("train", workspace="Acme support", base_model="tiny-chat", dataset="support", version=1, name="cli",
                 adapter=adapter, now=True,
                 set=["max_steps=2", "logging_steps=1", "per_device_train_batch_size=5",
                      "gradient_accumulation_steps=1", "prompt_tuning_virtual_tokens=4"])
    run = TrainingRun.objects.get()
    assert (run.status, run.adapter) == (TrainingRun.Status.SUCCEEDED, adapter)
    assert ModelArtifact.objects.get().kind == ModelArtifact.Kind.ADAPTER


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_train_command_trains_the_last_layer_of_a_full_model(tiny_base_model, sft_version):
    call_command("train", workspace="Acme support", base_model="tiny-chat", dataset="support", version=1, name="cli",
                 adapter="full", now=True,
                 set=["max_steps=2", "per_device_train_batch_size=5", "trainable_layers=1",
                      "trainable_modules=model.norm"])
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert ModelArtifact.objects.get().kind == ModelArtifact.Kind.FULL
