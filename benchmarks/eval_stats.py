"""Bradley–Terry at study scale: the fit with bootstrap intervals, and its distance from a reference implementation.

    .venv/bin/python benchmarks/eval_stats.py [--votes N] [--models M] [--rounds R] [--prompts P] [--seed S]

Synthesises N votes among M models with known strengths (a third of close calls end in a tie), spread over P prompts,
then times evaluation.statistics.bradley_terry_ratings: the point fit plus R bootstrap rounds resampling prompts.
The same votes are fitted by `evalica.bradley_terry` (an MM solver run to 1e-13) and by our L-BFGS fit without the
L2 prior, so both estimate the same model: the largest difference of the centred natural-log strengths is
`max_abs_diff` (also given in Elo points). The statistics are pure numpy/scipy; no database is needed.
Then times evaluation.reliability.rater_reliability (gold accuracy, repeat consistency, time, agreement with the
majority per rater) over the same number of votes spread among --raters raters, a tenth on gold comparisons and a tenth
side-swapped repeats: `reliability_seconds`, what the results page spends on the rater table besides its query.
Prints progress on stderr and ONE JSON line last on stdout: seconds, max_abs_diff, reliability_seconds and the sizes.
"""

import argparse
import json
import os
import sys
import time

from harness import ROOT, say_as

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
say = say_as("eval_stats")


def synthesise(*, votes: int, models: int, prompts: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 0.8, models)
    first = rng.integers(0, models, votes)
    second = (first + rng.integers(1, models, votes)) % models  # never a model against itself
    p_first = 1 / (1 + np.exp(strength[second] - strength[first]))
    draw = rng.random(votes)
    tie = np.abs(p_first - 0.5) < 0.15
    tie &= rng.random(votes) < 1 / 3
    scores = np.where(tie, 0.5, (draw < p_first).astype(float))
    prompt = rng.integers(0, prompts, votes)
    return first, second, scores, prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--prompts", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--raters", type=int, default=50)
    args = parser.parse_args()

    import django

    django.setup()
    import evalica
    import numpy as np

    from evaluation.statistics.bradley_terry import (
        ELO_SCALE,
        _soft_win_matrix,
        bradley_terry_fit,
        bradley_terry_ratings,
    )

    say(f"synthesising {args.votes} votes among {args.models} models over {args.prompts} prompts")
    first, second, scores, prompt = synthesise(
        votes=args.votes, models=args.models, prompts=args.prompts, seed=args.seed
    )

    say(f"Bradley–Terry with {args.rounds} bootstrap rounds")
    started = time.perf_counter()
    ratings = bradley_terry_ratings(first, second, scores, prompts=prompt, rounds=args.rounds, seed=args.seed,
                                    models=range(args.models))
    seconds = time.perf_counter() - started
    say(f"done in {seconds:.2f} s; best {ratings[0].model} at {ratings[0].rating:.1f} "
        f"[{ratings[0].low:.1f}, {ratings[0].high:.1f}]")

    say("reference: evalica.bradley_terry on the same votes (ties as half), and our fit without the prior")
    winner = np.where(scores == 1.0, evalica.Winner.X, np.where(scores == 0.0, evalica.Winner.Y, evalica.Winner.Draw))
    reference = evalica.bradley_terry(first.tolist(), second.tolist(), winner.tolist(), tolerance=1e-13, limit=100_000)
    theirs = np.log(reference.scores.reindex(range(args.models)).to_numpy())
    theirs -= theirs.mean()
    ours = bradley_terry_fit(_soft_win_matrix(first, second, scores, np.ones_like(scores), args.models), prior=0.0)
    diff = float(np.abs(ours - theirs).max())
    say(f"evalica took {reference.iterations} iterations; largest difference {diff:.2e} (log-strength)")

    say(f"rater reliability over {args.votes} votes by {args.raters} raters")
    from evaluation.reliability import rater_reliability

    rows = reliability_rows(votes=args.votes, raters=args.raters, seed=args.seed)
    started = time.perf_counter()
    table = rater_reliability(
        rows, threshold=0.7, exclusions={}, usernames={r: f"rater{r}" for r in range(args.raters)}
    )
    reliability_seconds = time.perf_counter() - started
    say(f"done in {reliability_seconds:.2f} s; {sum(r.flagged for r in table)} of {len(table)} raters flagged")

    print(
        json.dumps(
            {
                "benchmark": "eval_stats",
                "n": args.votes,
                "seconds": round(seconds, 3),
                "max_abs_diff": diff,
                "max_abs_diff_elo": diff * ELO_SCALE,
                "reliability_seconds": round(reliability_seconds, 3),
                "votes": args.votes,
                "models": args.models,
                "rounds": args.rounds,
                "prompts": args.prompts,
                "raters": args.raters,
                "target": {"seconds": 5.0, "max_abs_diff": 1e-6},
            }
        )
    )


def reliability_rows(*, votes: int, raters: int, seed: int) -> list[dict]:
    """Plain vote rows as evaluation.reliability reads them: each rater votes on its own run of comparisons (three
    raters per comparison), a tenth of them gold, and repeats a tenth of its votes with the sides swapped."""
    import random

    rng = random.Random(seed)
    rows, originals = [], {}
    choices = ("left", "right", "tie", "both_bad")
    for i in range(votes):
        rater = i % raters
        if originals.get(rater) and rng.random() < 0.1:
            original = originals[rater].pop()
            rows.append(
                {
                    "rater_id": rater,
                    "comparison_id": -1 - original,
                    "choice": rng.choice(choices),
                    "time_spent_ms": rng.randint(500, 60_000),
                    "left_answer": 2 * original + 1,
                    "right_answer": 2 * original,
                    "gold_answer": None,
                    "repeat_of": original,
                }
            )
            continue
        comparison = i // 3
        gold = 2 * comparison if comparison % 10 == 0 else None
        rows.append(
            {
                "rater_id": rater,
                "comparison_id": comparison,
                "choice": rng.choice(choices),
                "time_spent_ms": rng.randint(500, 60_000),
                "left_answer": 2 * comparison,
                "right_answer": 2 * comparison + 1,
                "gold_answer": gold,
                "repeat_of": None,
            }
        )
        originals.setdefault(rater, []).append(comparison)
    return rows


if __name__ == "__main__":
    main()
