import pytest

from training.runner.config import RunConfig


def test_run_config_round_trips_through_json(tmp_path):
    config = RunConfig(base_model_path="/models/tiny", learning_rate=5e-5, max_steps=10, lora_r=8, lora_alpha=16)
    config.to_json(tmp_path / "config.json")
    assert RunConfig.from_json(tmp_path / "config.json") == config


def test_run_config_refuses_an_unknown_field():
    with pytest.raises(ValueError, match="unknown run config field 'learning_rte'"):
        RunConfig.from_dict({"base_model_path": "/m", "learning_rte": 1e-4})
