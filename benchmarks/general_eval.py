"""The general-capability check's scoring against lm-evaluation-harness's, on the shared MMLU and CMMLU files.

One model object (a small random model of Qwen2.5's architecture with its real tokenizer, built from
../shared/data/tokenizers/qwen2.5-7b-instruct; --model tiny for the tiny model) scores the first --n questions of
every shared test file, k-shot from the dev files, twice in the same run:

- ours: evaluation.general (prompts.context + scoring.loglikelihoods: shared-prefix cache, one row for all options,
  only the scored positions through the output head);
- reference: lm-eval's own task yaml per subject, its request building, and HFLM.loglikelihood (its default batch
  size 1 unless --reference-batch-size; its one-token-continuation logits cache is on, as by default).

Accuracy (argmax = gold) must be identical: accuracy_abs_diff 0. Timings exclude loading the model and building the
requests. Prints one JSON line last.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SHARED = ROOT.parent / "shared" / "data"
SETS = [
    (
        SHARED / "general_eval/hendrycks__test/data/test",
        SHARED / "general_eval/hendrycks__test/data/dev",
        "_test",
        "_dev",
    ),
    (SHARED / "general_eval/haonan-li__CMMLU/data/test", SHARED / "general_eval/haonan-li__CMMLU/data/dev", "", ""),
]


def say(message: str) -> None:
    print(f"[general_eval] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=12, help="questions per test file (8 files)")
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--model", choices=["qwen", "tiny"], default="qwen")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--reference-batch-size", type=int, default=1)
    args = parser.parse_args()

    import django

    django.setup()
    import numpy as np
    import torch
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evaluation.general import prompts
    from evaluation.general.benchmark_files import benchmark_file_read
    from evaluation.general.scoring import ScoreRequest, loglikelihoods
    from evaluation.tests.general.lm_eval_reference import lm_eval_loglikelihoods, lm_eval_requests
    from training.tiny_model import BUILTIN_TEXTS, real_architecture_build, tiny_model_build

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    out = Path(tempfile.mkdtemp(prefix="general-eval-bench-"))
    if args.model == "qwen":
        model_dir = real_architecture_build(
            tokenizer_dir=SHARED / "tokenizers" / "qwen2.5-7b-instruct", out_dir=out / "model"
        )
    else:
        model_dir = tiny_model_build(out_dir=out / "model", texts=BUILTIN_TEXTS * 3, vocab_size=600)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    subjects = []  # (test items, dev items)
    for test_dir, dev_dir, test_suffix, dev_suffix in SETS:
        for test_path in sorted(test_dir.glob("*.csv")):
            dev_path = dev_dir / test_path.name.replace(f"{test_suffix}.csv", f"{dev_suffix}.csv")
            test = benchmark_file_read(name=test_path.name, data=test_path.read_bytes())[: args.n]
            dev = benchmark_file_read(name=dev_path.name, data=dev_path.read_bytes())
            subjects.append((test, dev))
    items = [item for test, _ in subjects for item in test]
    gold = np.array([item.gold for item in items])
    say(f"{len(items)} questions from {len(subjects)} files, {args.shots}-shot, model {args.model}")

    requests = [
        ScoreRequest(
            context=prompts.context(item, dev[: args.shots]),
            continuations=tuple(prompts.continuations(item)),
            group=item.subject,
        )
        for test, dev in subjects
        for item in test
    ]
    instances = [lm_eval_requests(test=test, dev=dev, k=args.shots) for test, dev in subjects]
    same_prompts = [inst.args for group in instances for inst in group] == [
        (r.context, c) for r in requests for c in r.continuations]

    start = time.perf_counter()
    ours = np.array(loglikelihoods(model, tokenizer, requests, batch_size=args.batch_size))
    ours_s = time.perf_counter() - start
    say(f"ours: {ours_s:.1f} s")

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.reference_batch_size)
    start = time.perf_counter()
    reference = np.array([row for group in instances for row in lm_eval_loglikelihoods(lm, group, 4)])
    reference_s = time.perf_counter() - start
    say(f"lm-eval: {reference_s:.1f} s")

    accuracy = float((ours.argmax(1) == gold).mean())
    reference_accuracy = float((reference.argmax(1) == gold).mean())
    items_per_s = len(items) / ours_s
    reference_items_per_s = len(items) / reference_s
    print(
        json.dumps(
            {
                "benchmark": "general_eval",
                "n": len(items),
                "model": args.model,
                "shots": args.shots,
                "same_prompts": same_prompts,
                "accuracy": accuracy,
                "reference_accuracy": reference_accuracy,
                "accuracy_abs_diff": abs(accuracy - reference_accuracy),
                "same_predictions": bool((ours.argmax(1) == reference.argmax(1)).all()),
                "max_loglikelihood_abs_diff": float(np.abs(ours - reference).max()),
                "items_per_s": round(items_per_s, 3),
                "reference_items_per_s": round(reference_items_per_s, 3),
                "baseline": f"lm-eval {__import__('lm_eval').__version__} HFLM.loglikelihood, batch size "
                            f"{args.reference_batch_size}",
                "ratio": round(items_per_s / reference_items_per_s, 2),
                "target": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
