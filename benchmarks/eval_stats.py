"""Bradley–Terry at study scale: the fit with bootstrap intervals, and its distance from a reference implementation.

    .venv/bin/python benchmarks/eval_stats.py [--votes N] [--models M] [--rounds R] [--prompts P] [--seed S]

Synthesises N votes among M models with known strengths (a third of close calls end in a tie), spread over P prompts,
then times evaluation.statistics.bradley_terry_ratings: the point fit plus R bootstrap rounds resampling prompts.
The same votes are fitted by `evalica.bradley_terry` (an MM solver run to 1e-13) and by our L-BFGS fit without the
L2 prior, so both estimate the same model: the largest difference of the centred natural-log strengths is
`max_abs_diff` (also given in Elo points). The statistics are pure numpy/scipy; no database is needed.
Prints progress on stderr and ONE JSON line last on stdout: seconds, max_abs_diff and the sizes.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def say(message: str) -> None:
    print(f"[eval_stats] {message}", file=sys.stderr, flush=True)


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
    args = parser.parse_args()

    import django

    django.setup()
    import evalica
    import numpy as np

    from evaluation.statistics import ELO_SCALE, _soft_win_matrix, bradley_terry_fit, bradley_terry_ratings

    say(f"synthesising {args.votes} votes among {args.models} models over {args.prompts} prompts")
    first, second, scores, prompt = synthesise(votes=args.votes, models=args.models, prompts=args.prompts, seed=args.seed)

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

    print(json.dumps({
        "seconds": round(seconds, 3), "max_abs_diff": diff, "max_abs_diff_elo": diff * ELO_SCALE,
        "votes": args.votes, "models": args.models, "rounds": args.rounds, "prompts": args.prompts,
    }))


if __name__ == "__main__":
    main()
