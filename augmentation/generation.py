"""Model-made prompt variants: LLM paraphrase and back-translation (through an LLM endpoint or local seq2seq models).

LLM requests go through llm.client.chat_complete_many with a fixed seed, so every request is cached: re-running a
run (or a run that failed half-way) pays only for what was not answered before.
"""

import re

from augmentation.text import language_of

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese"}
PARAPHRASE_PROMPT = ("Ask the same question in other words. Keep its meaning and change the wording. "
                     "Reply with the new question only.\n\nQuestion: {text}")
TRANSLATE_PROMPT = "Translate the following text into {language}. Reply with the translation only.\n\n{text}"
LEADING_LABEL = re.compile(r"^\s*(question|translation|问题|翻译)\s*[:：]\s*", re.IGNORECASE)


def reply_clean(text: str) -> str:
    """The model's reply without a leading label ("Question:") or surrounding quotes."""
    text = LEADING_LABEL.sub("", (text or "").replace("\x00", "").strip())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”「":
        text = text[1:-1].strip()
    return text


def paraphrases_generate(
    *, endpoint, texts: list[str], n: int, seed: int, temperature: float = 0.9, max_tokens: int = 256, purpose: str = ""
) -> list[list[str]]:
    """`n` paraphrases of each text: request i of a text is seeded seed + i, so the variants differ and are cached."""
    from llm.client import chat_complete_many

    requests = [
        {
            "messages": [{"role": "user", "content": PARAPHRASE_PROMPT.format(text=text)}],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed + i,
        }
        for text in texts
        for i in range(n)
    ]
    results = chat_complete_many(endpoint=endpoint, requests=requests, purpose=purpose) if requests else []
    replies = [reply_clean(r.text) for r in results]
    return [replies[k * n:(k + 1) * n] for k in range(len(texts))]


def _translate_many(
    endpoint, texts: list[str], languages: list[str], *, seed: int, max_tokens: int, purpose: str
) -> list[str]:
    from llm.client import chat_complete_many

    requests = [
        {
            "messages": [{"role": "user", "content": TRANSLATE_PROMPT.format(language=language, text=text)}],
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "seed": seed,
        }
        for text, language in zip(texts, languages)
    ]
    results = chat_complete_many(endpoint=endpoint, requests=requests, purpose=purpose) if requests else []
    return [reply_clean(r.text) for r in results]


def back_translations_llm(
    *, endpoint, texts: list[str], pivot: str, seed: int, max_tokens: int = 256, purpose: str = ""
) -> list[str]:
    """Each text translated into `pivot` (a language name, e.g. "German") and back into its own language."""
    pivots = _translate_many(
        endpoint, texts, [pivot] * len(texts), seed=seed, max_tokens=max_tokens, purpose=f"{purpose} to {pivot}"
    )
    back_languages = [LANGUAGE_NAMES.get(language_of(text), "English") for text in texts]
    return _translate_many(
        endpoint, pivots, back_languages, seed=seed, max_tokens=max_tokens, purpose=f"{purpose} back"
    )


def _seq2seq_translate(model_dir: str, texts: list[str], *, max_tokens: int, batch_size: int = 16) -> list[str]:
    # Imported here: torch and transformers are heavy and only a worker running this method needs them. (transformers 5
    # removed the "translation" pipeline, so the model's own generate() is called.)
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, local_files_only=True).eval()
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True, truncation=True)
        with torch.no_grad():
            generated = model.generate(**batch, max_new_tokens=max_tokens, do_sample=False, num_beams=1)
        out.extend(tokenizer.batch_decode(generated, skip_special_tokens=True))
    return out


def back_translations_seq2seq(*, forward_dir: str, back_dir: str, texts: list[str], max_tokens: int = 256) -> list[str]:
    """Back-translation with two local translation model directories (e.g. Marian en→de and de→en), greedy."""
    pivots = _seq2seq_translate(forward_dir, texts, max_tokens=max_tokens)
    return [reply_clean(text) for text in _seq2seq_translate(back_dir, pivots, max_tokens=max_tokens)]
