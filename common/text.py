"""Text measures shared by evaluation metrics and the data hub: CJK-aware tokens and ROUGE-L.

CJK characters are tokens of their own (Chinese and Japanese have no spaces between words); elsewhere a token is a
run of letters and digits. rouge-score's default tokenizer drops every non-ASCII character, which would score two
Chinese sentences as empty, so ROUGE-L is computed by rouge-score over these tokens.
"""

import re

from rouge_score import rouge_scorer

from common.text_similarity import CJK_RANGES as CJK

_TOKEN = re.compile(rf"[{CJK}]|[^\W{CJK}]+")
HAS_CJK = re.compile(rf"[{CJK}]")


def tokens(text: str) -> list[str]:
    """Lower-cased tokens: single CJK characters, and runs of letters and digits."""
    return _TOKEN.findall(text.casefold())


class _Tokenizer:
    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokenizer())


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F-measure of `candidate` against `reference` over `tokens` (0 when either has no token)."""
    return _ROUGE.score(reference, candidate)["rougeL"].fmeasure
