"""The prompts lm-evaluation-harness (0.4.13) builds for MMLU, CMMLU and C-Eval, character for character.

From its task yamls (tasks/mmlu/default/_default_template_yaml, tasks/cmmlu/_default_template_yaml,
tasks/ceval/_default_ceval_yaml and the per-subject descriptions) and ConfigurableTask.fewshot_context /
construct_requests: the context is

    description + Σ over the k shots (doc_to_text(shot) + " " + letter(shot) + "\\n\\n") + doc_to_text(item)

with doc_to_text = question.strip() + "\\nA. " + A + … + "\\nAnswer:" (CMMLU and C-Eval end in "\\n答案："), the shots
the first k rows of the subject's dev file (sampler first_n), and one log-likelihood request per option with the
continuation " A", " B", … (target_delimiter " " + the letter). The tests compare these strings with lm-eval's own.
"""

from evaluation.general.benchmark_files import LETTERS, ChoiceItem
from evaluation.general.subjects import CEVAL_SUBJECTS, CMMLU_SUBJECTS

TARGET_DELIMITER = " "
FEWSHOT_DELIMITER = "\n\n"


def description(*, subject: str, style: str) -> str:
    if style == "cmmlu":
        return f"以下是关于{CMMLU_SUBJECTS.get(subject, subject)}的单项选择题，请直接给出正确答案的选项。\n\n"
    if style == "ceval":
        return f"以下是中国关于{CEVAL_SUBJECTS.get(subject, subject)}的单项选择题，请选出其中的正确答案。\n\n"
    return f"The following are multiple choice questions (with answers) about {' '.join(subject.split('_'))}.\n\n"


def question_text(item: ChoiceItem) -> str:
    options = "".join(f"\n{LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices))
    answer_cue = "\n答案：" if item.style in ("cmmlu", "ceval") else "\nAnswer:"
    return item.question.strip() + options + answer_cue


def context(item: ChoiceItem, shots: list[ChoiceItem]) -> str:
    """The text the options' log-likelihoods are conditioned on (precondition: the shots share the item's subject)."""
    examples = "".join(
        question_text(shot) + TARGET_DELIMITER + LETTERS[shot.gold] + FEWSHOT_DELIMITER for shot in shots
    )
    return description(subject=item.subject, style=item.style) + examples + question_text(item)


def continuations(item: ChoiceItem) -> list[str]:
    return [TARGET_DELIMITER + LETTERS[i] for i in range(len(item.choices))]
