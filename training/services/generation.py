"""Replies from a base model, optionally with a trained adapter, for evaluation and previews.

Runs in the calling process on the CPU (or the first GPU when there is one); the model is loaded per call,
so call it with every conversation of a batch at once.
"""

from pathlib import Path

from training.models import BaseModel, ModelArtifact
from training.runner.templates import stop_token_ids
from training.services.base_models import base_model_directory, model_directory

BATCH_SIZE = 8


def model_load(*, base_dir: Path, adapter_dir: Path | None):
    """(model, tokenizer) in evaluation mode; the adapter, when given, is applied with peft."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tokenizer.padding_side = "left"
    tokenizer.truncation_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32 if device == "cpu" else torch.bfloat16)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir)
    model.to(device)
    model.eval()
    return model, tokenizer


def generate_replies(*, base_model: BaseModel, artifact: ModelArtifact | None, conversations: list[list[dict]],
                     max_new_tokens: int = 64, seed: int = 0, temperature: float = 0.0) -> list[str]:
    """One reply per conversation, in order: the model's own chat template with the generation prompt, decoding
    until a stop token (training.runner.templates.stop_token_ids: the turn's end, whichever token marks it) or
    max_new_tokens.

    temperature 0 decodes greedily; above 0 it samples. Either way the same inputs and seed give the same replies.
    Preconditions: `artifact`, when given, was trained on `base_model` (an adapter is applied to it; full or merged
    weights replace it); each conversation is a list of {"role", "content"} messages ending before the reply wanted.
    """
    import torch

    if not conversations:
        return []
    if artifact is not None and artifact.kind != ModelArtifact.Kind.ADAPTER:
        model, tokenizer = model_load(base_dir=model_directory(artifact.path), adapter_dir=None)
    else:
        adapter_dir = model_directory(artifact.path) if artifact is not None else None
        model, tokenizer = model_load(base_dir=base_model_directory(base_model), adapter_dir=adapter_dir)
    # Every eos id of the generation config (an int or a list), the tokenizer's, and the template's end-of-turn token.
    stop_ids = stop_token_ids(tokenizer, model.generation_config)
    context = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
    prompt_limit = max(1, context - max_new_tokens)
    sampling = (
        {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
        if temperature > 0
        else {"do_sample": False}
    )

    replies = []
    for start in range(0, len(conversations), BATCH_SIZE):
        chunk = conversations[start:start + BATCH_SIZE]
        prompts = [
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) for messages in chunk
        ]
        # The template already wrote every special token; adding a BOS again would change what the model sees.
        batch = tokenizer(prompts, return_tensors="pt", padding=True, truncation=True, max_length=prompt_limit,
                          add_special_tokens=False).to(model.device)
        torch.manual_seed(seed + start)
        with torch.no_grad():
            output = model.generate(**batch, max_new_tokens=max_new_tokens, eos_token_id=stop_ids or None,
                                    pad_token_id=tokenizer.pad_token_id, **sampling)
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        replies.extend(text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return replies
