"""The paired bootstrap of corpus BLEU between two arms: vectorised over rounds against a loop that asks sacrebleu.

    .venv/bin/python benchmarks/paired_bootstrap.py [--n PROMPTS] [--rounds R] [--baseline-rounds B] [--seed S]

Synthesises N reference answers and two arms' answers (word overlap drawn at random), extracts sacrebleu's per-answer
statistics once, then times evaluation.statistics.bootstrap.paired_bootstrap with bleu_from_sums over R rounds, and,
side by side, the plain way: B rounds of drawing the prompts and calling sacrebleu.corpus_bleu on both arms. The rates
are compared per round (`ratio` = ours per second over the loop's). `max_abs_diff`: over the loop's B rounds, the
largest difference between sacrebleu's BLEU difference and ours on the same draw. No database is needed.
Prints progress on stderr and ONE JSON line last on stdout.
"""

import argparse
import json
import os
import sys
import time

from harness import ROOT, say_as

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
say = say_as("paired_bootstrap")

WORDS = ("order parcel refund shipping invoice today tomorrow email tracking number sorry thanks we you your the a "
         "is will be sent has been delivered charged twice back soon please wait").split()


def synthesise(n: int, seed: int):
    import random

    rng = random.Random(seed)
    references = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))) for _ in range(n)]

    def answer(reference: str, keep: float) -> str:
        return " ".join(word if rng.random() < keep else rng.choice(WORDS) for word in reference.split())

    return references, [answer(r, 0.7) for r in references], [answer(r, 0.5) for r in references]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10_000)
    parser.add_argument("--baseline-rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import sacrebleu

    from evaluation.metrics import bleu_statistics
    from evaluation.statistics.bootstrap import bleu_from_sums, paired_bootstrap

    references, candidate, baseline = synthesise(args.n, args.seed)
    say(f"{args.n} prompts; extracting statistics")
    cand_stats = np.array(bleu_statistics(candidate, references))
    base_stats = np.array(bleu_statistics(baseline, references))
    start = time.perf_counter()
    result = paired_bootstrap(cand_stats, base_stats, summarise=bleu_from_sums, rounds=args.rounds, seed=args.seed)
    ours = time.perf_counter() - start
    say(f"vectorised: {args.rounds} rounds in {ours:.2f}s; difference {result.difference:.3f}, p {result.p_value}")

    rng = np.random.default_rng(args.seed + 1)
    worst = 0.0
    start = time.perf_counter()
    for _ in range(args.baseline_rounds):
        draw = rng.integers(0, args.n, args.n)
        refs = [[references[i] for i in draw]]
        loop = (sacrebleu.corpus_bleu([candidate[i] for i in draw], refs).score
                - sacrebleu.corpus_bleu([baseline[i] for i in draw], refs).score)
        mine = (bleu_from_sums(cand_stats[draw].sum(axis=0)[None, :])[0]
                - bleu_from_sums(base_stats[draw].sum(axis=0)[None, :])[0])
        worst = max(worst, abs(loop - mine))
    loop_seconds = time.perf_counter() - start
    loop_rate = args.baseline_rounds / loop_seconds  # the check of ours inside the loop is negligible beside sacrebleu
    our_rate = args.rounds / ours
    say(f"sacrebleu loop: {args.baseline_rounds} rounds in {loop_seconds:.2f}s")
    print(json.dumps({
        "benchmark": "paired_bootstrap", "n": args.n, "rounds": args.rounds, "seconds": round(ours, 3),
        "rounds_per_s": round(our_rate, 1), "baseline": "sacrebleu.corpus_bleu per round, both arms",
        "baseline_rounds_per_s": round(loop_rate, 2), "ratio": round(our_rate / loop_rate, 1), "target": 10,
        "max_abs_diff": worst, "p_value": result.p_value,
    }))


if __name__ == "__main__":
    main()
