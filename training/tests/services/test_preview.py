from training.services.hyperparameters import hyperparameters_clean
from training.services.preview import CUT, MASKED, TRAINED, training_run_preview
from training.tests.fixtures import support_conversations


def preview(base_model, version, **values):
    return training_run_preview(base_model=base_model, dataset_version=version,
                                hyperparameters=hyperparameters_clean(values=values, base_model=base_model))


def test_by_default_the_system_and_user_turns_are_read_not_learned(tiny_base_model, sft_version):
    result = preview(tiny_base_model, sft_version)

    first = support_conversations()[0]["messages"]
    segments = result["examples"][0]["segments"]
    assert [segment["state"] for segment in segments] == [MASKED, TRAINED, MASKED]
    assert "".join(segment["text"] for segment in segments) == (
        f"<|im_start|>system\n{first[0]['content']}<|im_end|>\n<|im_start|>user\n{first[1]['content']}<|im_end|>\n"
        f"<|im_start|>assistant\n{first[2]['content']}<|im_end|>\n")
    # The reply and its end-of-turn are learned, so the model learns to stop.
    assert segments[1]["text"] == f"{first[2]['content']}<|im_end|>"
    assert len(result["examples"]) == 3
    assert result["warnings"] == []


def test_without_assistant_only_loss_every_token_is_trained(tiny_base_model, sft_version):
    result = preview(tiny_base_model, sft_version, assistant_only_loss=False)
    example = result["examples"][0]
    assert [segment["state"] for segment in example["segments"]] == [TRAINED]
    assert example["trained_tokens"] == example["tokens"]
    assert example["cut_tokens"] == 0


def test_lengths_and_the_examples_max_length_would_cut(tiny_base_model, sft_version):
    full = preview(tiny_base_model, sft_version, assistant_only_loss=False)
    lengths = full["lengths"]
    assert lengths["count"] == 10  # the train split
    assert lengths["min"] <= lengths["median"] <= lengths["p95"] <= lengths["max"]
    assert full["over_max_length"] == 0

    cut_at = lengths["median"]
    short = preview(tiny_base_model, sft_version, max_length=cut_at, assistant_only_loss=False)
    tokens = [example["tokens"] for example in short["examples"]]
    assert short["lengths"] == lengths
    assert 1 <= short["over_max_length"] <= 5
    example = short["examples"][[t > cut_at for t in tokens].index(True)]
    assert example["segments"][-1]["state"] == CUT
    assert example["cut_tokens"] == example["tokens"] - cut_at


def test_a_template_that_never_ends_the_turn_is_warned_about_and_learns_what_follows_the_prompt(
    workspace, tiny_model_dir, tmp_path, sft_version
):
    import shutil

    from training.services.base_models import base_model_register
    from training.services.runs import training_run_preflight

    model_dir = tmp_path / "no-end"
    shutil.copytree(tiny_model_dir, model_dir)
    # Plain "role: content" lines: no markers, no generation prompt and no <|im_end|> after a reply.
    (model_dir / "chat_template.jinja").write_text(
        "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}",
        encoding="utf-8",
    )
    base_model = base_model_register(workspace=workspace, name="no-end", path=str(model_dir))
    assert base_model.warnings == [
        "The chat template writes no end-of-turn token after a reply: generation will not know where to stop."]
    assert base_model.chat_template_facts["turn_end"] is None

    result = training_run_preflight(workspace=workspace, base_model=base_model, dataset_version=sft_version)
    assert result["preview"]["warnings"] == [
        "The chat template writes no end-of-turn token after a reply: generation will not know where to stop."]
    first = support_conversations()[0]["messages"]
    segments = result["preview"]["examples"][0]["segments"]
    # The template writes no generation prompt, so the model must write "assistant: " itself: it is learned.
    assert [(segment["text"], segment["state"]) for segment in segments] == [
        (f"system: {first[0]['content']}\nuser: {first[1]['content']}\n", MASKED),
        (f"assistant: {first[2]['content']}\n", TRAINED)]


def test_dpo_preview_reads_the_prompt_and_learns_the_chosen_answer(workspace, tiny_base_model, preference_version):
    from training.services.runs import training_run_preflight
    from training.tests.fixtures import preference_rows

    result = training_run_preflight(workspace=workspace, base_model=tiny_base_model, dataset_version=preference_version,
                                    method="dpo")
    first = preference_rows()[0]
    segments = result["preview"]["examples"][0]["segments"]
    assert [segment["state"] for segment in segments] == [MASKED, TRAINED]
    assert segments[0]["text"].endswith(f"{first['messages'][1]['content']}<|im_end|>\n<|im_start|>assistant\n")
    assert segments[1]["text"] == f"{first['chosen']['content']}<|im_end|>\n"
    assert result["preview"]["lengths"]["count"] == 10


def test_a_template_that_refuses_the_rows_is_shown_and_refused_at_launch(
    workspace, tiny_model_dir, tmp_path, sft_version
):
    import shutil

    import pytest

    from common.errors import ApplicationError
    from training.services.base_models import base_model_register
    from training.services.runs import training_run_create, training_run_preflight
    from training.tiny_model import CHAT_TEMPLATE

    model_dir = tmp_path / "no-system"
    shutil.copytree(tiny_model_dir, model_dir)
    (model_dir / "chat_template.jinja").write_text(
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System prompts are not supported') }}{% endif %}"
        + CHAT_TEMPLATE,
        encoding="utf-8",
    )
    base_model = base_model_register(workspace=workspace, name="no-system", path=str(model_dir))

    preview = training_run_preflight(workspace=workspace, base_model=base_model, dataset_version=sft_version)["preview"]
    assert preview["mismatch"] == {
        "count": 10,
        "measured": 10,
        "fix": "",
        "fix_value": False,
        "message": "the chat template cannot write this row: System prompts are not supported",
    }
    with pytest.raises(ApplicationError) as error:
        training_run_create(workspace=workspace, name="refused", base_model=base_model, dataset_version=sft_version)
    assert (error.value.message, error.value.where) == (
        "10 of the first 10 rows cannot be written by the chat template of base model 'no-system': the chat template cannot "
        "write this row: System prompts are not supported",
        "dataset_version",
    )
