"""lm-evaluation-harness itself on a local benchmark file: its own task yaml (mmlu_<subject> / cmmlu_<subject> /
ceval-valid_<subject>) with the dataset swapped for the local rows, its own request building, and HFLM's
loglikelihood on the same model object. What our scoring (evaluation/general) is compared against, in the tests
and in benchmarks/general_eval.py. Needs lm-eval (requirements-dev.txt)."""

import json
import os
import tempfile
from pathlib import Path

import yaml

from evaluation.general.benchmark_files import ChoiceItem

_TASK_FILES = {"mmlu": "mmlu/default/mmlu_{subject}.yaml", "cmmlu": "cmmlu/cmmlu_{subject}.yaml",
               "ceval": "ceval/ceval-valid_{subject}.yaml"}


def _task_config(path: Path) -> dict:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    include = config.pop("include", None)
    if include:
        base = _task_config(path.parent / include)
        base.update(config)
        config = base
    return config


def _row(item: ChoiceItem) -> dict:
    letters = "ABCD"
    if item.style == "mmlu":
        return {"question": item.question, "subject": item.subject, "choices": list(item.choices), "answer": item.gold}
    question_key, answer_key = ("Question", "Answer") if item.style == "cmmlu" else ("question", "answer")
    return {
        question_key: item.question,
        **dict(zip(letters, item.choices, strict=True)),
        answer_key: letters[item.gold],
    }


def lm_eval_task(*, test: list[ChoiceItem], dev: list[ChoiceItem], k: int):
    """lm-eval's ConfigurableTask for these items' subject and style, reading `test` and `dev` from local files."""
    import lm_eval
    from lm_eval.api.task import ConfigurableTask

    style, subject = test[0].style, test[0].subject
    config = _task_config(Path(lm_eval.__file__).parent / "tasks" / _TASK_FILES[style].format(subject=subject))
    folder = Path(tempfile.mkdtemp(prefix="lm-eval-ref-"))
    for split, items in (("test", test), ("dev", dev)):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(_row(i), ensure_ascii=False) + "\n" for i in items),
                                               encoding="utf-8")
    for key in ("dataset_name", "tag", "validation_split"):
        config.pop(key, None)
    config.update(dataset_path="json", test_split="test", fewshot_split="dev", num_fewshot=k,
                  dataset_kwargs={"data_files": {"test": str(folder / "test.jsonl"), "dev": str(folder / "dev.jsonl")}})
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    return ConfigurableTask(config=config)


def lm_eval_requests(*, test: list[ChoiceItem], dev: list[ChoiceItem], k: int) -> list:
    """lm-eval's Instances for the items, in item order and option order."""
    task = lm_eval_task(test=test, dev=dev, k=k)
    task.build_all_requests(limit=len(test))
    return sorted(task.instances, key=lambda inst: (inst.doc_id, inst.idx))


def lm_eval_loglikelihoods(lm, instances: list, n_options: int) -> list[list[float]]:
    """HFLM's loglikelihood of each instance, grouped per item."""
    values = [ll for ll, _ in lm.loglikelihood(instances, disable_tqdm=True)]
    return [values[i:i + n_options] for i in range(0, len(values), n_options)]
