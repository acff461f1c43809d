"""Dedupe quality on labelled sentence pairs: precision and recall of "duplicate" per stage, at the chosen thresholds.

    .venv/bin/python benchmarks/dedupe_quality.py [--n PAIRS_PER_SET] [--near-threshold 0.8] [--cosine 0.95]

Data (read from ../shared/data/dedup_pairs, never copied): LCQMC dev (Chinese question pairs, label 1 = same intent),
STS-B English (a 0-5 similarity score; a pair scoring >= 4 counts as a duplicate, our choice: 4 is "mostly
equivalent, unimportant details differ"), MRPC train (label 1 = paraphrase; parsed with quoting off, the file holds
bare double quotes). The first --n pairs of each set are used.

Stages measured as the product runs them:
- near: every distinct sentence of a set goes through MinHash LSH (128 permutations) and exact-Jaccard verification
  (common.text_similarity.near_pairs); a pair is called a duplicate when the stage joined it.
- semantic: the default embedding model (all-MiniLM-L6-v2, L2-normalised); a pair is a duplicate when cosine >= the
  threshold. A sweep of cosine thresholds is printed too, to show the precision / recall trade-off.
Sentences are single texts here (a record compares prompt+response), so figures are indicative of thresholds, not
of whole records. Progress on stderr; ONE JSON line last on stdout.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from harness import ROOT, say_as

DATA = ROOT.parent / "shared" / "data" / "dedup_pairs"
SETS = {
    "lcqmc_zh": "IceFlameWorm__NLP_Datasets/LCQMC/dev.txt",
    "stsb_en": "shibing624__text2vec/English-STS-B/stsbenchmark.tsv",
    "mrpc_en": "brmson__dataset-sts/MRPC/msr-para-train.tsv",
}
STSB_DUPLICATE_SCORE = 4.0
SWEEP = (0.85, 0.90, 0.95, 0.98)
say = say_as("dedupe_quality")


def pairs_read(name: str, limit: int) -> list[tuple[str, str, bool]]:
    """(sentence, sentence, is duplicate) triples; tab-separated with quoting off (MRPC holds bare quotes)."""
    path = DATA / SETS[name]
    rows: list[tuple[str, str, bool]] = []
    with open(path, encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines):
            cells = line.rstrip("\n").split("\t")
            if name == "lcqmc_zh" and len(cells) == 3 and cells[2] in ("0", "1"):
                rows.append((cells[0], cells[1], cells[2] == "1"))
            elif name == "stsb_en" and number > 0 and len(cells) >= 8:
                rows.append((cells[6], cells[7], float(cells[5]) >= STSB_DUPLICATE_SCORE))
            elif name == "mrpc_en" and number > 0 and len(cells) == 5:
                rows.append((cells[3], cells[4], cells[0] == "1"))
            if len(rows) >= limit:
                break
    return rows


def scores(predicted: list[bool], truth: list[bool]) -> dict:
    true_positive = sum(p and t for p, t in zip(predicted, truth))
    flagged, actual = sum(predicted), sum(truth)
    return {"precision": round(true_positive / flagged, 4) if flagged else None,
            "recall": round(true_positive / actual, 4) if actual else None, "flagged": flagged}


def near_stage(pairs, threshold: float) -> list[bool]:
    from common.text_similarity import near_pairs

    sentences = sorted({s for a, b, _ in pairs for s in (a, b)})
    position = {s: i for i, s in enumerate(sentences)}
    duplicates, _ = near_pairs(sentences, threshold=threshold)
    joined = {(p.a, p.b) for p in duplicates}
    return [(min(position[a], position[b]), max(position[a], position[b])) in joined or a == b for a, b, _ in pairs]


def cosines(pairs, model) -> list[float]:
    sentences = sorted({s for a, b, _ in pairs for s in (a, b)})
    vectors = model.encode(
        sentences, batch_size=64, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    row = {s: i for i, s in enumerate(sentences)}
    return [float(vectors[row[a]] @ vectors[row[b]]) for a, b, _ in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="pairs per set (default 2000)")
    parser.add_argument("--near-threshold", type=float, default=0.8)
    parser.add_argument("--cosine", type=float, default=0.95)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(json.dumps({"benchmark": "dedupe_quality", "skipped": f"{DATA} is absent"}))
        return
    sys.path.insert(0, str(ROOT))
    from dedupe.embeddings import EMBEDDING_MODEL_DEFAULT, embedding_model_load

    model = embedding_model_load()
    results, started = {}, time.perf_counter()
    for name in SETS:
        pairs = pairs_read(name, args.n)
        truth = [t for _, _, t in pairs]
        say(f"{name}: {len(pairs)} pairs, {sum(truth)} duplicates; near stage")
        near = scores(near_stage(pairs, args.near_threshold), truth)
        say(f"{name}: semantic stage")
        cos = cosines(pairs, model)
        semantic = scores([c >= args.cosine for c in cos], truth)
        sweep = {f"{t:.2f}": scores([c >= t for c in cos], truth) for t in SWEEP}
        results[name] = {
            "pairs": len(pairs),
            "duplicates": sum(truth),
            "near": near,
            "semantic": semantic,
            "semantic_sweep": sweep,
        }
        say(f"{name}: near {near}, semantic {semantic}")
    print(
        json.dumps(
            {
                "benchmark": "dedupe_quality",
                "n": args.n,
                "near_threshold": args.near_threshold,
                "cosine": args.cosine,
                "embedding_model": Path(EMBEDDING_MODEL_DEFAULT).name
                if "gt_all" not in EMBEDDING_MODEL_DEFAULT
                else "all-MiniLM-L6-v2",
                "stsb_duplicate_score": STSB_DUPLICATE_SCORE,
                "sets": results,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
