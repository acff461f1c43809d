"""Text similarity: the one meaning of each word the data hub, dedupe, augmentation and the dataset card share.

- normalised text: NFKC, casefold, every character that is neither a letter, digit nor space (punctuation, symbols)
  replaced by a space, whitespace collapsed; digits kept, so "2+2" and "3+3" stay different. `normalised_text` is
  that text; `normalised_hash` its SHA-256 (the exact-duplicate key). Records store their prompt hash over it, so the
  rule cannot change without re-hashing every record.
- prompt text: the turns a person wrote before the final answer, system turns left out (`prompt_text`); the same
  turns the prompt hash covers. Other cuts have names of their own.
- shingles: word 3-grams; character 5-grams when the text is short or mostly CJK (no spaces between words).
- near duplicate: MinHash LSH (datasketch, 128 permutations) over the shingles, every candidate confirmed by the exact
  Jaccard of the shingle sets (at least the threshold, 0.8 by default). Dedupe's near stage and the leakage check
  between splits both use `near_pairs` / `near_matches`, so "near duplicate" means the same on both pages.
- Jaccard: |A ∩ B| / |A ∪ B|; two empty sets are identical, so their Jaccard is 1 (one empty, one not: 0).
- CJK: the Unicode blocks of Chinese, Japanese and Korean letters, written once in `CJK_RANGES`.
- percentile: the nearest-rank value of a sorted list.

Pure functions, no Django, no database.
"""

import hashlib
import re
import unicodedata
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

# Chinese, Japanese and Korean letters, as a regular-expression character class body: Hangul Jamo, kana and their
# extensions, Bopomofo, Hangul compatibility Jamo, the CJK unified ideographs (extension A, the base block, and the
# supplementary-plane extensions B to I), Hangul syllables and Jamo extended, compatibility ideographs (BMP and
# supplement), half-width katakana and Hangul.
CJK_RANGES = (
    "\u1100-\u11ff\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uffdc"
    "\U00020000-\U0002a6df\U0002a700-\U0002ebef\U0002f800-\U0002fa1f\U00030000-\U000323af"
)
CJK = re.compile(f"[{CJK_RANGES}]")

WORD_NGRAM = 3
CHAR_NGRAM = 5
SHORT_TEXT_WORDS = 8
CJK_SHARE = 0.3
NEAR_THRESHOLD = 0.8
NUM_PERM = 128
MINHASH_SEED = 1

_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)
# For ASCII text: NFKC changes nothing and casefold is lower. As a bytes table: upper case to lower, and every
# character _PUNCTUATION or \s matches to a space, so bytes.split() (which splits on six of the ten ASCII characters
# \s matches) splits exactly where the regular expressions would.
_ASCII_KEY = bytes(ord(" ") if _PUNCTUATION.match(chr(c)) or _SPACE.match(chr(c)) else ord(chr(c).lower())
                   for c in range(128)) + bytes(range(128, 256))


def normalised_text(text: str) -> str:
    """NFKC, casefold, punctuation and symbols to spaces, whitespace collapsed; digits kept ("2+2" differs from
    "3+3")."""
    if text.isascii():
        # The same result, without the regular expressions.
        return b" ".join(text.encode("ascii").translate(_ASCII_KEY).split()).decode("ascii")
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


def normalised_hash(text: str) -> str:
    """SHA-256 (hex) of normalised_text: texts that differ only in case, punctuation or spacing share it."""
    return hashlib.sha256(normalised_text(text).encode("utf-8")).hexdigest()


def prompt_turns(messages: list[dict], kind: str) -> list[dict]:
    """The turns before the final answer: a preference row's messages are all prompt; otherwise a closing assistant
    turn is the answer. System turns are kept here (prompt_text leaves them out)."""
    if kind != "preference" and messages and messages[-1].get("role") == "assistant":
        return messages[:-1]
    return messages


def prompt_text(messages: list[dict], kind: str) -> str:
    """The prompt a person wrote: every non-system turn before the final answer, one per line."""
    return "\n".join(str(m.get("content") or "") for m in prompt_turns(messages, kind) if m.get("role") != "system")


def cjk_count(text: str) -> int:
    return len(CJK.findall(text))


def mostly_cjk(text: str) -> bool:
    """At least CJK_SHARE of the text's non-space characters are Chinese, Japanese or Korean letters."""
    letters = sum(1 for ch in text if not ch.isspace())
    return cjk_count(text) >= CJK_SHARE * max(1, letters)


def shingles(text: str) -> set[str]:
    """Shingles of the text after NFKC, casefold and collapsed whitespace: word 3-grams; character 5-grams (spaces
    included, punctuation dropped) when the text has fewer than SHORT_TEXT_WORDS words or is mostly CJK. Lighter than
    normalised_text on purpose: symbols stay ("2+2" and "2-2" differ). A text of punctuation alone has no shingles; one
    of at most 5 characters is one shingle."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    words = _WORD.findall(text)
    if len(words) >= SHORT_TEXT_WORDS and not mostly_cjk(text):
        return {" ".join(words[i:i + WORD_NGRAM]) for i in range(len(words) - WORD_NGRAM + 1)}
    compact = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    if len(compact) <= CHAR_NGRAM:
        return {compact} if compact else set()
    return {compact[i:i + CHAR_NGRAM] for i in range(len(compact) - CHAR_NGRAM + 1)}


def jaccard(left: set, right: set) -> float:
    """|left ∩ right| / |left ∪ right|; 1 for two empty sets (they are equal)."""
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


@dataclass(frozen=True)
class Pair:
    """Two item positions and how similar they were found; `a < b` within one list, or (query, corpus) positions
    for near_matches."""

    a: int
    b: int
    similarity: float


def _signatures(sets: list[set[str]], *, num_perm: int, seed: int):
    from datasketch import MinHash

    return MinHash.bulk(
        [[s.encode("utf-8") for s in shingle_set] for shingle_set in sets], num_perm=num_perm, seed=seed
    )


def _lsh(signatures, *, threshold: float, num_perm: int):
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for position, signature in enumerate(signatures):
        lsh.insert(position, signature, check_duplication=False)
    return lsh


def near_pairs(texts: list[str], *, threshold: float = NEAR_THRESHOLD, num_perm: int = NUM_PERM,
               seed: int = MINHASH_SEED) -> tuple[list[Pair], list[Pair]]:
    """(duplicates, near misses) among `texts`: LSH candidates verified by exact Jaccard ≥ `threshold`, and the
    verified candidates that fell short (kept for the closest-pairs report)."""
    sets = [shingles(text) for text in texts]
    signatures = _signatures(sets, num_perm=num_perm, seed=seed)
    lsh = _lsh(signatures, threshold=threshold, num_perm=num_perm)
    duplicates, misses, seen = [], [], set()
    for position, signature in enumerate(signatures):
        for other in lsh.query(signature):
            key = (min(position, other), max(position, other))
            if other == position or key in seen:
                continue
            seen.add(key)
            similarity = jaccard(sets[key[0]], sets[key[1]])
            (duplicates if similarity >= threshold else misses).append(Pair(key[0], key[1], similarity))
    return duplicates, misses


def near_matches(queries: list[str], corpus: list[str], *, threshold: float = NEAR_THRESHOLD, num_perm: int = NUM_PERM,
                 seed: int = MINHASH_SEED) -> list[Pair]:
    """For each query with a near duplicate in `corpus`, its most similar one: Pair(query position, corpus position,
    Jaccard), by the same rule as near_pairs. Empty texts (no shingles) match nothing. Ties go to the earlier item."""
    corpus_sets = [shingles(text) for text in corpus]
    query_sets = [shingles(text) for text in queries]
    lsh = _lsh(_signatures(corpus_sets, num_perm=num_perm, seed=seed), threshold=threshold, num_perm=num_perm)
    matches = []
    for position, (items, signature) in enumerate(zip(query_sets, _signatures(query_sets, num_perm=num_perm, seed=seed),
                                                      strict=True)):
        if not items:
            continue
        best = max(
            ((jaccard(items, corpus_sets[c]), -c) for c in lsh.query(signature) if corpus_sets[c]), default=(0.0, 0)
        )
        if best[0] >= threshold:
            matches.append(Pair(position, -best[1], best[0]))
    return matches


class UnionFind:
    """Disjoint sets over hashable items (positions or ids); a set's root is its smallest member."""

    def __init__(self, items: Iterable[Hashable] | int):
        self.parent = {item: item for item in (range(items) if isinstance(items, int) else items)}

    def find(self, item):
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression keeps later finds short
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a, b) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)

    def groups(self) -> dict:
        """Root → members, in the order the items were given."""
        found: dict = {}
        for item in self.parent:
            found.setdefault(self.find(item), []).append(item)
        return found


def percentile(ordered: list, fraction: float):
    """The value at `fraction` (0..1) of a sorted, non-empty list: the nearest rank, no interpolation."""
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]
