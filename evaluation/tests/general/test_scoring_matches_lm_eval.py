"""Our prompts and log-likelihoods against lm-evaluation-harness itself, on the real shared MMLU and CMMLU files.

The reference is lm-eval's own task yaml, its own request building and HFLM's loglikelihood (lm_eval_reference.py) on
the same model object. Subsets keep it fast: the first questions of one subject per set.
"""

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from evaluation.general import prompts
from evaluation.general.benchmark_files import benchmark_file_read
from evaluation.general.scoring import ScoreRequest, encode_pair, loglikelihoods
from evaluation.tests.general.lm_eval_reference import lm_eval_loglikelihoods, lm_eval_requests
from training.tests.fixtures import shared_data_absent

SHARED = Path(settings.BASE_DIR).parent / "shared" / "data" / "general_eval"
MMLU = SHARED / "hendrycks__test" / "data"
CMMLU = SHARED / "haonan-li__CMMLU" / "data"
SETS = {
    "mmlu": (MMLU / "test" / "high_school_geography_test.csv", MMLU / "dev" / "high_school_geography_dev.csv"),
    "cmmlu": (CMMLU / "test" / "chinese_food_culture.csv", CMMLU / "dev" / "chinese_food_culture.csv"),
}


def _read(path: Path):
    if not path.is_file():
        shared_data_absent(path)
    return benchmark_file_read(name=path.name, data=path.read_bytes())


def _model(directory):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(
        directory
    )


def _compare(model, tokenizer, test, dev, k):
    from lm_eval.models.huggingface import HFLM

    instances = lm_eval_requests(test=test, dev=dev, k=k)
    contexts = [prompts.context(item, dev[:k]) for item in test]
    assert [instances[4 * i].args for i in range(len(test))] == [(c, " A") for c in contexts]
    assert [inst.args[1] for inst in instances[:4]] == [" A", " B", " C", " D"]
    requests = [ScoreRequest(context=c, continuations=tuple(prompts.continuations(item)), group=item.subject)
                for c, item in zip(contexts, test, strict=True)]
    ours = np.array(loglikelihoods(model, tokenizer, requests, batch_size=4))
    reference = np.array(
        lm_eval_loglikelihoods(HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4), instances, 4)
    )
    assert np.abs(ours - reference).max() < 1e-4
    gold = np.array([item.gold for item in test])
    assert (ours.argmax(1) == gold).tolist() == (reference.argmax(1) == gold).tolist()


@pytest.mark.parametrize("benchmark", ["mmlu", "cmmlu"])
def test_qwen_tokenizer_model_scores_like_lm_eval(benchmark, real_model_dirs):
    model, tokenizer = _model(real_model_dirs("qwen2.5-7b-instruct"))
    test_path, dev_path = SETS[benchmark]
    test, dev = _read(test_path)[:12], _read(dev_path)
    # the options are single tokens after the prompt here: one row per question scores all four
    context_ids, continuation = encode_pair(tokenizer, prompts.context(test[0], dev[:5]), " A")
    assert len(continuation) == 1
    _compare(model, tokenizer, test, dev, k=5)


def test_tiny_model_scores_like_lm_eval_with_truncation_and_zero_shot(tiny_model_dir):
    """The tiny model's context is 512 tokens and its tokenizer is byte-level on English it barely knows: 5-shot
    prompts are cut from the left, as lm-eval cuts them; 0-shot ones fit."""
    model, tokenizer = _model(tiny_model_dir)
    test, dev = _read(SETS["mmlu"][0])[:6], _read(SETS["mmlu"][1])
    longest = max(len(encode_pair(tokenizer, prompts.context(item, dev[:5]), " A")[0]) for item in test)
    assert longest > 512
    _compare(model, tokenizer, test, dev, k=5)
    _compare(model, tokenizer, test, dev, k=0)


def test_multi_token_continuations_score_like_lm_eval(tiny_model_dir):
    """The general case: continuations of several tokens, sharing some tokens, as lm-eval scores them."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    model, tokenizer = _model(tiny_model_dir)
    contexts = ["Where is my package?", "Where is my order?"]
    options = (" It left the warehouse yesterday.", " It left", " Please send me your order number.", " 好的")
    assert len(encode_pair(tokenizer, contexts[0], options[0])[1]) > 3
    requests = [ScoreRequest(context=c, continuations=options, group="g") for c in contexts]
    ours = np.array(loglikelihoods(model, tokenizer, requests, batch_size=3))
    instances = [
        Instance(request_type="loglikelihood", doc={}, arguments=(c, o), idx=j)
        for c in contexts
        for j, o in enumerate(options)
    ]
    reference = np.array(
        lm_eval_loglikelihoods(HFLM(pretrained=model, tokenizer=tokenizer, batch_size=2), instances, len(options))
    )
    assert np.abs(ours - reference).max() < 1e-4
