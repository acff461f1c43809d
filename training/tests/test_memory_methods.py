"""The memory estimate's trainable parameters for each method against the real count of the tiny model under peft
(or with its layers frozen): the formulas of training.memory are the models' own sizes."""

import json

import pytest

from training.memory import GIB, ModelShape, memory_estimate
from training.runner.config import RunConfig
from training.tests.test_memory import LLAMA_31_8B

pytestmark = pytest.mark.slow

SETTINGS = {
    "lora all-linear": {"adapter": "lora"},
    "lora attention": {"adapter": "lora", "lora_target_modules": "attention"},
    "lora q,v with dora": {"adapter": "lora", "lora_target_modules": "q_proj,v_proj", "use_dora": True},
    "prompt tuning": {"adapter": "prompt_tuning"},
    "prefix tuning": {"adapter": "prefix_tuning"},
    "p-tuning": {"adapter": "p_tuning"},
    "full": {"adapter": "full"},
    "full, last layer and the head": {"adapter": "full", "trainable_layers": 1, "trainable_modules": "lm_head"},
}


def _real_trainable(model_dir, settings) -> int:
    from peft import get_peft_model

    from training.runner.models import model_prepare

    model, _tokenizer, peft_config = model_prepare(RunConfig(base_model_path=str(model_dir), lora_r=4,
                                                             prompt_tuning_virtual_tokens=10, **settings))
    if peft_config is not None:
        model = get_peft_model(model, peft_config)
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


@pytest.mark.parametrize("name", SETTINGS, ids=list(SETTINGS))
def test_estimated_trainable_parameters_are_the_real_ones(name, tiny_model_dir):
    settings = SETTINGS[name]
    shape = ModelShape.from_config(json.loads((tiny_model_dir / "config.json").read_text()))
    estimate = memory_estimate(shape=shape, adapter=settings["adapter"], lora_r=4, virtual_tokens=10,
                               lora_targets=settings.get("lora_target_modules", "all-linear"),
                               use_dora=settings.get("use_dora", False),
                               trainable_layers=settings.get("trainable_layers", 0),
                               trainable_modules=settings.get("trainable_modules", ""))
    # Adapters keep 16 bytes per trained parameter (fp32 weight, gradient, two Adam moments); pure bf16 full
    # training 6 (bf16 gradient and two bf16 moments).
    per_parameter = 6 if settings["adapter"] == "full" else 16
    assert estimate.trainable / per_parameter == _real_trainable(tiny_model_dir, settings)


def test_the_lighter_methods_need_less_memory_on_an_8b_model():
    def total(**settings) -> float:
        return round(memory_estimate(shape=LLAMA_31_8B, sequence_length=2048, **settings).total / GIB, 2)

    assert total(adapter="lora", lora_targets="attention") < total(adapter="lora")
    assert total(adapter="lora", use_dora=True) > total(adapter="lora")
    assert total(adapter="prefix_tuning") < total(adapter="lora")
    assert total(adapter="full", trainable_layers=4) < total(adapter="full") / 2
    # P-tuning's encoder is as wide as the model: 3·4096² parameters, 16 bytes each, 0.75 GiB more, 0.83 with the
    # allocator's fragmentation.
    assert 0.8 < total(adapter="p_tuning") - total(adapter="prompt_tuning") < 0.85
