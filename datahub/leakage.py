"""Leakage between splits: test prompts that also appear in train, exactly or nearly.

Exact: the same prompt hash (normalised text of every non-system prompt turn; see datahub.canonical.prompt_hash).
Near: a near duplicate as dedupe means it (common.text_similarity.near_matches: MinHash LSH over the shingles of the
normalised prompt text, each candidate confirmed by its exact Jaccard, at least 0.8 by default).
"""

from dataclasses import dataclass

from common.text_similarity import NEAR_THRESHOLD, near_matches


@dataclass(frozen=True)
class Leak:
    test_record: int
    train_record: int
    kind: str  # "exact" or "near"
    similarity: float
    prompt: str


def leaks_find(
    *, train: list[tuple[int, str, str]], test: list[tuple[int, str, str]], threshold: float = NEAR_THRESHOLD
) -> list[Leak]:
    """Leaks of `test` into `train`; each side is (record id, prompt hash, prompt text). One leak per test record,
    exact before near, the most similar train record for a near one."""
    exact_train = {}
    for record_id, prompt_hash, _ in train:
        exact_train.setdefault(prompt_hash, record_id)
    leaks: list[Leak] = []
    rest = []
    for record_id, prompt_hash, text in test:
        if prompt_hash in exact_train:
            leaks.append(Leak(record_id, exact_train[prompt_hash], "exact", 1.0, text))
        else:
            rest.append((record_id, text))
    if not rest or not train:
        return leaks
    for match in near_matches([text for _, text in rest], [text for _, _, text in train], threshold=threshold):
        record_id, text = rest[match.a]
        leaks.append(Leak(record_id, train[match.b][0], "near", round(match.similarity, 3), text))
    return leaks
