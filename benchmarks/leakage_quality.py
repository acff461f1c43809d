"""Leakage check on labelled sentence pairs: how many test prompts it calls leaked, and how fast.

    .venv/bin/python benchmarks/leakage_quality.py [--n PAIRS_PER_SET]

Data (read from ../shared/data, never copied): the pair sets of dedupe_quality (LCQMC dev, STS-B, MRPC train). Of each
pair the first sentence goes in train and the second in test, and datahub.leakage.leaks_find runs over them as the
version page does (exact by prompt hash, then near by common.text_similarity). Also the Alpaca demo prompts (English and
Chinese) split 80/20 by prompt hash, where leaks are real near-repeats. Per set: exact and near leaks, near leaks of a
test sentence onto its own pair's first sentence split by the pair's label, and the seconds leaks_find took.
Progress on stderr; ONE JSON line last on stdout.
"""

import argparse
import json
import os
import sys
import time

from dedupe_quality import DATA as PAIRS
from dedupe_quality import SETS, pairs_read
from harness import ROOT, say_as

ALPACA = ROOT.parent / "shared" / "data" / "sft" / "hiyouga__LLaMA-Factory"
say = say_as("leakage_quality")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="pairs per set (default 2000)")
    args = parser.parse_args()
    if not PAIRS.is_dir() or not ALPACA.is_dir():
        print(json.dumps({"benchmark": "leakage_quality", "skipped": "../shared/data is absent"}))
        return
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from datahub.canonical import prompt_hash
    from datahub.leakage import leaks_find

    def hashed(text: str) -> str:
        return prompt_hash(
            {"kind": "sft", "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "-"}]}
        )

    results = {}
    for name in SETS:
        rows = pairs_read(name, args.n)
        offset = len(rows)
        train = [(i, hashed(a), a) for i, (a, _, _) in enumerate(rows)]
        test = [(offset + i, hashed(b), b) for i, (_, b, _) in enumerate(rows)]
        started = time.perf_counter()
        leaks = leaks_find(train=train, test=test)
        seconds = time.perf_counter() - started
        own = [leak for leak in leaks if leak.kind == "near" and leak.train_record == leak.test_record - offset]
        results[name] = {"pairs": len(rows), "exact": sum(leak.kind == "exact" for leak in leaks),
                         "near": sum(leak.kind == "near" for leak in leaks),
                         "near_own_pair_duplicate": sum(rows[leak.train_record][2] for leak in own),
                         "near_own_pair_not_duplicate": sum(not rows[leak.train_record][2] for leak in own),
                         "seconds": round(seconds, 2)}
        say(f"{name}: {results[name]}")
    prompts = []
    for file_name in ("alpaca_en_demo.json", "alpaca_zh_demo.json"):
        for row in json.loads((ALPACA / file_name).read_text(encoding="utf-8")):
            prompt = "\n".join(part for part in (row.get("instruction", ""), row.get("input", "")) if part)
            if prompt.strip():
                prompts.append(prompt)
    train, test = [], []
    for i, prompt in enumerate(prompts):
        key = hashed(prompt)
        (test if int(key[:8], 16) % 5 == 0 else train).append((i, key, prompt))
    started = time.perf_counter()
    leaks = leaks_find(train=train, test=test)
    results["alpaca_demo_80_20"] = {
        "train": len(train),
        "test": len(test),
        "exact": sum(leak.kind == "exact" for leak in leaks),
        "near": sum(leak.kind == "near" for leak in leaks),
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps({"benchmark": "leakage_quality", "n": args.n, "sets": results}))


if __name__ == "__main__":
    main()
