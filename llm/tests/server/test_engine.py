"""The server's model cache, directly: lazy, bounded, and failures remembered."""

import pytest

from training.server import engine


@pytest.fixture
def fresh_cache(monkeypatch):
    engine.cache_clear()
    monkeypatch.setenv("WHETSTONE_SERVER_MAX_MODELS", "1")
    yield
    engine.cache_clear()


def test_cache_keeps_the_most_recently_used_models_only(fresh_cache, tiny_model_dir, tiny_adapter_dir):
    base = engine.model_get(base_dir=tiny_model_dir, adapter_dir=None)
    assert engine.model_get(base_dir=tiny_model_dir, adapter_dir=None) is base
    engine.model_get(base_dir=tiny_model_dir, adapter_dir=tiny_adapter_dir)
    assert engine.cached_keys() == [(str(tiny_model_dir), str(tiny_adapter_dir))]
    assert base.context_length == 512
    assert base.has_chat_template


def test_a_failed_load_is_remembered_with_its_reason(fresh_cache, tmp_path):
    with pytest.raises(engine.ModelLoadError) as first:
        engine.model_get(base_dir=tmp_path / "missing", adapter_dir=None)
    (tmp_path / "missing").mkdir()  # not retried: the remembered reason comes back at once
    with pytest.raises(engine.ModelLoadError) as second:
        engine.model_get(base_dir=tmp_path / "missing", adapter_dir=None)
    assert (
        str(first.value)
        == str(second.value)
        == f"cannot load {tmp_path / 'missing'}: no model directory at {tmp_path / 'missing'}"
    )


def test_truncate_at_the_earliest_stop_string():
    assert engine.truncate_at_stop("hello world", ["wor", "lo"]) == ("hel", True)
    assert engine.truncate_at_stop("hello", ["x"]) == ("hello", False)
    assert engine.truncate_at_stop("hello", []) == ("hello", False)
