"""Back-translation through local seq2seq model directories: a tiny random T5 built here (its output is noise, so the
filter must refuse every candidate for a reason that agrees with its scores)."""

import pytest

from augmentation.services.runs import augmentation_run_create, augmentation_run_execute
from augmentation.tests.rows import TRAIN
from common.text_similarity import mostly_cjk
from llm.models import ModelCall


@pytest.fixture(scope="session")
def tiny_seq2seq_dir(tmp_path_factory):
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from training.tiny_model import tokenizer_train

    tokenizer = tokenizer_train(texts=[p + " " + a for p, a in TRAIN] * 20, vocab_size=300)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=16,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        d_kv=8,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    out = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.mark.django_db
def test_seq2seq_back_translation(version, tiny_seq2seq_dir):
    options = {"back_translation_engine": "seq2seq", "seq2seq_forward_dir": str(tiny_seq2seq_dir),
               "seq2seq_back_dir": str(tiny_seq2seq_dir), "max_tokens": 8}
    run = augmentation_run_create(
        version=version, methods=["back_translation"], options=options, run_in_background=False
    )
    run = augmentation_run_execute(run=run)
    assert run.status == "succeeded", run.error
    assert run.candidate_count == 3
    assert ModelCall.objects.count() == 0
    for candidate in run.candidates.all():
        assert candidate.is_passing is False
        if candidate.scores:
            assert candidate.reason == ("too_far" if candidate.scores["cosine"] < 0.85 else "same_words")
        elif candidate.reason == "unreadable":
            # the random model wrote mostly CJK characters, which the English-only embedding model cannot judge
            assert mostly_cjk(candidate.text) or mostly_cjk(candidate.original_text)
        else:
            assert candidate.reason in ("empty", "invalid", "unchanged")


@pytest.mark.django_db
def test_seq2seq_needs_both_directories(version):
    from common.errors import ApplicationError

    with pytest.raises(ApplicationError) as error:
        augmentation_run_create(
            version=version,
            methods=["back_translation"],
            options={"back_translation_engine": "seq2seq"},
            run_in_background=False,
        )
    assert error.value.where == "seq2seq_forward_dir"
