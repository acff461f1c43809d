"""GRPO learns on a CPU: the tiny chat model, rewarded by a string_check grader, learns to put a given word in its
replies; and what the python grader's sandbox costs per call.

    .venv/bin/python benchmarks/grpo_reward.py [--n STEPS] [--word order]

Model: training.tiny_model's tiny Llama (2 layers, hidden 64), tokenizer trained on its built-in support sentences,
then pretrained (plain language modelling, 100 steps) on the English question/answer pairs of those sentences plus the
same questions with random answers, so it speaks the corpus but does not favour any answer. Data: the questions as
prompts, each with the reference `--word` ("order": about a quarter of the corpus's answers hold it).
Training: the real runner (training.runner.grpo.main), full fine-tuning, 16 completions per step (2 prompts × 8
generations), 24 tokens each, temperature 1, β 0, learning rate 1e-3; reward = string_check "ilike" (the reply
contains the word, any case): 1 or 0.

Figures: reward_start and reward_end, the mean reward of the first and last 10% of steps (target: reward_end ≥
reward_start + 0.3); steps; seconds (training only); sandbox_ms_per_call, the wall time of one python-grader call whose
grade() does nothing (a process started, limited, isolated and read back: what the sandbox itself costs), and
sandbox_ms_per_completion when a step's 16 completions are graded in one sandboxed process, as the runner does.
Django-free: no database. Prints progress on stderr and ONE JSON line last.
"""

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_GAIN = 0.3
PROMPTS_PER_STEP = 2
GENERATIONS = 8


def say(text: str) -> None:
    print(f"[grpo_reward] {text}", file=sys.stderr, flush=True)


def model_and_data(work: Path, word: str) -> tuple[Path, Path]:
    from training.tiny_model import BUILTIN_TEXTS, tiny_model_build, tiny_model_pretrain

    english = [text for text in BUILTIN_TEXTS if text.isascii()]
    pairs = list(zip(english[0::2], english[1::2]))
    rng = random.Random(0)
    conversations = [[{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
                     for question, answer in pairs] * 4
    conversations += [[{"role": "user", "content": question}, {"role": "assistant", "content": rng.choice(english)}]
                      for question, _ in pairs for _ in range(4)]
    model = tiny_model_build(out_dir=work / "model", texts=BUILTIN_TEXTS * 20, vocab_size=600)
    tiny_model_pretrain(model_dir=model, conversations=conversations, steps=100, batch_size=8)
    data = work / "data"
    data.mkdir()
    with open(data / "train.jsonl", "w", encoding="utf-8") as rows:
        for question, _ in pairs * 4:
            rows.write(json.dumps({"prompt": [{"role": "user", "content": question}], "reference": word}) + "\n")
    return model, data


def sandbox_costs() -> tuple[float, float]:
    from graders.grading.sandbox import python_grade_many, sandbox_overhead_ms

    per_call = sandbox_overhead_ms(calls=10)
    pairs = [({"output_text": "x"}, {})] * (PROMPTS_PER_STEP * GENERATIONS)
    started = time.perf_counter()
    for _ in range(5):
        python_grade_many("def grade(sample, item):\n    return 1.0\n", pairs)
    per_completion = (time.perf_counter() - started) / 5 / len(pairs) * 1000
    return per_call, per_completion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="optimizer steps")
    parser.add_argument("--word", default="order")
    options = parser.parse_args()

    from training.runner.config import RunConfig
    from training.runner.grpo import main as grpo_main

    with tempfile.TemporaryDirectory(prefix="grpo-reward-") as folder:
        work = Path(folder)
        say("building and pretraining the tiny model")
        model, data = model_and_data(work, options.word)
        config = RunConfig(
            base_model_path=str(model), method="grpo", adapter="full", learning_rate=1e-3, max_steps=options.n,
            per_device_train_batch_size=PROMPTS_PER_STEP * GENERATIONS, gradient_accumulation_steps=1,
            num_generations=GENERATIONS, max_completion_length=24, temperature=1.0, kl_beta=0.0, logging_steps=1,
            reward_graders=[{"type": "string_check", "name": "has_word", "input": "{{sample.output_text}}",
                             "reference": "{{item.reference}}", "operation": "ilike"}],
        )
        say(f"training {options.n} GRPO steps")
        started = time.perf_counter()
        result = grpo_main(config, data, work / "run")
        seconds = time.perf_counter() - started
        with open(work / "run" / "metrics.jsonl", encoding="utf-8") as lines:
            rewards = [row["values"]["reward"] for row in map(json.loads, lines) if "reward" in row["values"]]
    tenth = max(1, len(rewards) // 10)
    reward_start = sum(rewards[:tenth]) / tenth
    reward_end = sum(rewards[-tenth:]) / tenth
    say("timing the python grader's sandbox")
    per_call, per_completion = sandbox_costs()
    print(json.dumps({
        "benchmark": "grpo_reward", "n": options.n, "steps": result["global_step"],
        "reward_start": round(reward_start, 3), "reward_end": round(reward_end, 3),
        "reward_gain": round(reward_end - reward_start, 3), "target": TARGET_GAIN,
        "meets_target": reward_end >= reward_start + TARGET_GAIN, "seconds": round(seconds, 1),
        "sandbox_ms_per_call": round(per_call, 1), "sandbox_ms_per_completion": round(per_completion, 2),
        "rewards": [round(reward, 3) for reward in rewards],
    }))


if __name__ == "__main__":
    main()
