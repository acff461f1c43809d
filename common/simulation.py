"""Simulated raters: stated rules that vote, like, dislike and pick in place of a person (the demo's raters and its shop
app's customers). Whatever such a rule casts is stored with the rule's name (`simulated_by`), and the pages that show
the results say so with the rule's description, so nobody mistakes it for a person's judgement.

The one rule: prefer the answer closer to the team's reference reply, by ROUGE-L F1 over common.text's tokens (words,
and each Chinese character on its own). It judges what the models actually wrote, so a support rate built from its
votes follows from the answers; it knows nothing of which model wrote which answer.
"""

from django.utils.translation import gettext_lazy as _

from common.text import rouge_l

CLOSER_TO_REFERENCE = "closer_to_reference"
# Two answers whose similarities differ by less than this are a tie.
TIE_MARGIN = 0.02
# A single answer at least this similar to the reference is liked, else disliked.
LIKE_THRESHOLD = 0.1

RULES = {
    CLOSER_TO_REFERENCE: _(
        "the answer closer to the team's reference reply wins, by ROUGE-L F1 (shared words in order; Chinese counted "
        "by character); a tie when the two differ by less than %(tie_margin)s. A single answer is liked when its "
        "ROUGE-L F1 is at least %(like_threshold)s, else disliked."
    ),
}


def rule_description(name: str) -> str:
    """What the rule `name` does, for the pages, with the rule's own numbers; a rule this version does not know is
    shown by its name."""
    if name not in RULES:
        return name
    return str(RULES[name]) % {"tie_margin": TIE_MARGIN, "like_threshold": LIKE_THRESHOLD}


def closer_to_reference(*, reference: str, first: str, second: str) -> str:
    """"first", "second" or "tie": which answer the rule prefers, given the reference reply."""
    difference = rouge_l(reference, first) - rouge_l(reference, second)
    if abs(difference) < TIE_MARGIN:
        return "tie"
    return "first" if difference > 0 else "second"


def liked_by_reference(*, reference: str, answer: str) -> bool:
    """Whether the rule likes one answer on its own: ROUGE-L F1 against the reference at least LIKE_THRESHOLD."""
    return rouge_l(reference, answer) >= LIKE_THRESHOLD


def picked_by_reference(*, reference: str, answers: list[str]) -> int:
    """The index of the answer the rule picks among several: the highest ROUGE-L F1, the first of equals."""
    scores = [rouge_l(reference, answer) for answer in answers]
    return scores.index(max(scores))
