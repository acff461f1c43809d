"""Semantic dedupe cost: the whole run against embedding alone, a re-run over unchanged records, and growth from N to
4N.

    .venv/bin/python benchmarks/dedupe.py [--n N]

Builds a throwaway database `whet_bench_dedupe` on the local PostgreSQL (dropped and made anew on each run) and fills
datasets with real text read from ../shared/data (never copied into the project): the Alpaca demo sets (English and
Chinese) as instruction -> output, and the sentence pairs of STS-B, MRPC and LCQMC as prompt -> response. Then, with
the embedding model loaded once beforehand (loading is per process, not per run):

- overhead_ratio: a semantic-only dedupe run over N records with an empty cache (load the records, embed and cache
  them, faiss search, prompt-only similarity of the reported pairs, write pairs / clusters / decisions) against
  embedding the same N texts with the model alone, no database; target <= 1.2.
- rerun_speedup: the same run again over the unchanged records (every vector from the cache) against the first
  run; target >= 10.
- growth_4x: a cold run over 4N records against the cold run over N; target <= 5 (linear would be 4).
Progress on stderr; ONE JSON line last on stdout.
"""

import argparse
import json
import time

from harness import ROOT, database_recreate, django_start, say_as

DATA = ROOT.parent / "shared" / "data"
DB_NAME = "whet_bench_dedupe"
say = say_as("dedupe")
TARGETS = {"overhead_ratio": 1.2, "rerun_speedup": 10, "growth_4x": 5}


def real_pairs() -> list[tuple[str, str]]:
    """Distinct (prompt, response) pairs of real text, in a fixed order."""
    pairs: list[tuple[str, str]] = []
    for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json"):
        for row in json.loads((DATA / "sft" / "hiyouga__LLaMA-Factory" / name).read_text(encoding="utf-8")):
            prompt = "\n".join(part for part in (row.get("instruction", ""), row.get("input", "")) if part)
            if prompt.strip() and str(row.get("output", "")).strip():
                pairs.append((prompt, row["output"]))
    columns = {"shibing624__text2vec/English-STS-B/stsbenchmark.tsv": (6, 7, 8),
               "brmson__dataset-sts/MRPC/msr-para-train.tsv": (3, 4, 5),
               "IceFlameWorm__NLP_Datasets/LCQMC/dev.txt": (0, 1, 3)}
    for relative, (left, right, width) in columns.items():
        with open(DATA / "dedup_pairs" / relative, encoding="utf-8-sig") as lines:
            next(lines)
            for line in lines:
                cells = line.rstrip("\n").split("\t")  # quoting off: MRPC holds bare double quotes
                if len(cells) >= width and cells[left].strip() and cells[right].strip():
                    pairs.append((cells[left], cells[right]))
    seen, unique = set(), []
    for pair in pairs:
        if pair not in seen:
            seen.add(pair)
            unique.append(pair)
    return unique


def dataset_fill(workspace, name: str, pairs) -> object:
    from datahub.services.datasets import dataset_create
    from datahub.services.records import records_bulk_create

    dataset = dataset_create(workspace=workspace, name=name)
    rows = [{"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": r}]} for p, r in pairs]
    records_bulk_create(dataset=dataset, rows=rows)
    return dataset


def semantic_run(dataset):
    from dedupe.services import dedupe_run_create, dedupe_run_execute

    started = time.perf_counter()
    run = dedupe_run_execute(
        run=dedupe_run_create(dataset=dataset, use_exact=False, use_near=False, run_in_background=False)
    )
    elapsed = time.perf_counter() - started
    assert run.status == "dry_run_ready", run.error
    return run, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=300, help="records in the small run; the large one has 4N (default 300)"
    )
    args = parser.parse_args()
    if not DATA.is_dir():
        print(json.dumps({"benchmark": "dedupe", "skipped": f"{DATA} is absent"}))
        return
    django_start(database_recreate(DB_NAME), migrate=True)
    from accounts.services import workspace_create
    from datahub.models import Record
    from dedupe.embeddings import embedding_model_load, embedding_model_reads
    from dedupe.models import EmbeddingCache
    from dedupe.services import record_text

    pairs = real_pairs()
    if len(pairs) < 4 * args.n:
        raise SystemExit(f"only {len(pairs)} distinct real pairs; use --n {len(pairs) // 4} or less")
    workspace = workspace_create(name="Bench")
    # 4N pairs spread evenly over every source, and every fourth of them for N: both sets hold the same mix of
    # lengths and languages, so the growth measures the size alone.
    chosen = pairs[::max(1, len(pairs) // (4 * args.n))][:4 * args.n]
    small = dataset_fill(workspace, "small", chosen[::4])
    large = dataset_fill(workspace, "large", chosen)
    model = embedding_model_load()
    model.encode(["warm up"], show_progress_bar=False)

    # The baseline embeds exactly what the run embeds: the texts the model can read (the default model reads English
    # only, so the run leaves Chinese text to the exact and near stages).
    texts = [record_text(r) for r in Record.objects.filter(dataset=small).order_by("pk")]
    texts = [text for text in texts if embedding_model_reads(text)]
    say(f"embedding {len(texts)} texts with the model alone")
    started = time.perf_counter()
    model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    embed_only = time.perf_counter() - started

    say(f"cold semantic run over {args.n} records")
    EmbeddingCache.objects.all().delete()
    cold, cold_s = semantic_run(small)
    say(f"re-run over the same {args.n} records")
    warm, warm_s = semantic_run(small)
    say(f"cold semantic run over {4 * args.n} records")
    EmbeddingCache.objects.all().delete()
    big, big_s = semantic_run(large)
    figures = {
        "overhead_ratio": round(cold_s / embed_only, 3),
        "rerun_speedup": round(cold_s / warm_s, 2),
        "growth_4x": round(big_s / cold_s, 3),
    }
    print(
        json.dumps(
            {
                "benchmark": "dedupe",
                "n": args.n,
                **figures,
                "target": TARGETS,
                "met": {
                    "overhead_ratio": figures["overhead_ratio"] <= 1.2,
                    "rerun_speedup": figures["rerun_speedup"] >= 10,
                    "growth_4x": figures["growth_4x"] <= 5,
                },
                "embed_only_s": round(embed_only, 3),
                "run_s": round(cold_s, 3),
                "rerun_s": round(warm_s, 3),
                "run_4n_s": round(big_s, 3),
                "run_timings": cold.timings,
                "rerun_timings": warm.timings,
                "run_4n_timings": big.timings,
                "embedded": {"run": cold.embedded_count, "rerun": warm.embedded_count, "run_4n": big.embedded_count},
                "clusters": {"run": cold.cluster_count, "run_4n": big.cluster_count},
            }
        )
    )


if __name__ == "__main__":
    main()
