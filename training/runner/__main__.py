"""python -m training.runner --config config.json --data DIR --out DIR

Exit 0 when the run finished or was cancelled cleanly (out_dir/result.json says which); 1 on failure, with the
traceback on stderr and a one-line reason in out_dir/error.json for the platform to show.
"""

import argparse
import json
import logging
import sys
import traceback
import warnings
from pathlib import Path

from training.runner.files import ERROR_FILE


def arguments_parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.runner", description="Fine-tune a model on exported conversations."
    )
    parser.add_argument("--config", required=True, type=Path, help="run config JSON (training.runner.config.RunConfig)")
    parser.add_argument(
        "--data", required=True, type=Path, help="directory with train.jsonl and optionally validation.jsonl"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="output directory: adapter/, metrics.jsonl, result.json"
    )
    return parser.parse_args(argv)


def _quiet() -> None:
    """Keep the run's log about the run: library deprecation notices and optional-kernel notices are noise there."""
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)


def run(argv: list[str] | None = None) -> int:
    options = arguments_parse(argv)
    _quiet()
    options.out.mkdir(parents=True, exist_ok=True)
    try:
        from training.runner.config import RunConfig

        config = RunConfig.from_json(options.config)
        if config.method == "sft":
            from training.runner.sft import main
        elif config.method in ("dpo", "kto"):
            from training.runner.preference import main
        elif config.method == "grpo":
            from training.runner.grpo import main
        else:
            raise ValueError(f"unknown method {config.method!r}; use sft, dpo, kto or grpo")
        result = main(config, options.data, options.out)
    except Exception as error:
        traceback.print_exc()
        reason = f"{type(error).__name__}: {error}"
        (options.out / ERROR_FILE).write_text(json.dumps({"error": reason}) + "\n", encoding="utf-8")
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run())
