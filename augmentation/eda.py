"""EDA (Wei & Zou 2019) on prompt text: synonym replacement, random insertion, random swap, random deletion, and an
optional word-order shuffle (off by default: shuffling changes meaning, see PAWS).

Each variant applies one operation, cycling through the enabled ones, and changes about α × words positions (at
least one). Randomness comes from random.Random seeded by (seed, text, variant index), so the same text gets the
same variants whatever else is in the run and in whatever order it is processed.

Words: English text is split on whitespace (punctuation stays attached to its word and is kept on replacement);
Chinese text is segmented by greedy longest match against the synonym table, every other character being a word
of its own, and joined back without spaces.
"""

import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from augmentation.text import language_of
from common.errors import ApplicationError
from common.json_limits import json_loads

DATA = Path(__file__).parent / "data"
OPERATIONS = ("synonym", "insert", "swap", "delete")
ALL_OPERATIONS = (*OPERATIONS, "shuffle")
STOP_WORDS = frozenset("a an the of to in on at for and or but is are was were be been am i you he she it we they me "
                       "my your his her its our their this that these those with by from as do does did not no".split())
EDGE = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)
MAX_WORD = 4


@dataclass(frozen=True)
class SynonymTable:
    """word → synonyms, symmetric: every word of an entry is a synonym of every other."""

    entries: dict

    def synonyms(self, word: str) -> list[str]:
        return self.entries.get(word.casefold(), [])

    @property
    def longest(self) -> int:
        return max((len(w) for w in self.entries), default=1)


def table_from_pairs(pairs: list[tuple[str, list[str]]]) -> dict[str, list[str]]:
    """Symmetric {word: sorted synonyms} from (word, synonyms) rows; words are case-folded."""
    groups: dict[str, set[str]] = {}
    for word, synonyms in pairs:
        words = {w.strip().casefold() for w in [word, *synonyms] if w and w.strip()}
        for w in words:
            groups.setdefault(w, set()).update(words - {w})
    return {w: sorted(s) for w, s in sorted(groups.items()) if s}


def table_parse(content: str, *, file_name: str = "table") -> dict[str, list[str]]:
    """A user table: JSON {"word": ["synonym", ...]} or TSV lines "word<TAB>syn1,syn2" (or one synonym per column).

    Raises ApplicationError naming the line that cannot be read.
    """
    content = content.lstrip("\ufeff")
    if content.lstrip().startswith("{"):
        try:
            data = json_loads(content, where=file_name)
        except json.JSONDecodeError as exc:
            raise ApplicationError(f"not valid JSON: {exc.msg}", where=f"{file_name}, line {exc.lineno}") from exc
        pairs = []
        for word, synonyms in data.items():
            if isinstance(synonyms, str):
                synonyms = [synonyms]
            if not isinstance(synonyms, list) or not all(isinstance(s, str) for s in synonyms):
                raise ApplicationError("synonyms must be a list of strings", where=f"{file_name}, word {word!r}")
            pairs.append((word, synonyms))
    else:
        pairs = []
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            columns = line.split("\t")
            if len(columns) < 2 or not columns[0].strip():
                raise ApplicationError(
                    "expected a word, a tab, then its synonyms separated by commas", where=f"{file_name}, line {number}"
                )
            pairs.append((columns[0], [s for column in columns[1:] for s in column.split(",")]))
    table = table_from_pairs(pairs)
    if not table:
        raise ApplicationError("the table has no word with a synonym", where=file_name)
    return table


@lru_cache(maxsize=4)
def shipped_table(language: str) -> SynonymTable:
    """The synonym table written for this project (data/synonyms_<language>.tsv)."""
    path = DATA / f"synonyms_{language}.tsv"
    return SynonymTable(table_parse(path.read_text(encoding="utf-8"), file_name=path.name))


def table_for(text: str, user_entries: dict | None = None) -> SynonymTable:
    """The user's table when given (merged over the shipped one of the text's language), else the shipped one."""
    language = language_of(text) or "en"
    shipped = shipped_table(language)
    if not user_entries:
        return shipped
    merged = dict(shipped.entries)
    merged.update(user_entries)
    return SynonymTable(merged)


# ---------------------------------------------------------------- words


def words_split(text: str, table: SynonymTable) -> tuple[list[str], str]:
    """(words, joiner): whitespace words for alphabetic text; greedy longest table match for CJK text."""
    if language_of(text) != "zh":
        return text.split(), " "
    words, i, longest = [], 0, min(MAX_WORD, table.longest)
    while i < len(text):
        for size in range(longest, 0, -1):
            piece = text[i:i + size]
            if size == 1 or piece in table.entries:
                words.append(piece)
                i += size
                break
    return words, ""


def _core(word: str) -> tuple[str, str, str]:
    lead, core, trail = EDGE.match(word).groups()
    return lead, core, trail


def _replaceable(word: str, table: SynonymTable) -> bool:
    core = _core(word)[1]
    return bool(core) and core.casefold() not in STOP_WORDS and bool(table.synonyms(core))


def _with_case(template: str, word: str) -> str:
    return word[:1].upper() + word[1:] if template[:1].isupper() else word


def synonym_replace(words: list[str], n: int, rng: random.Random, table: SynonymTable) -> list[str]:
    words = list(words)
    positions = [i for i, w in enumerate(words) if _replaceable(w, table)]
    rng.shuffle(positions)
    for i in positions[:n]:
        lead, core, trail = _core(words[i])
        words[i] = lead + _with_case(core, rng.choice(table.synonyms(core))) + trail
    return words


def random_insert(words: list[str], n: int, rng: random.Random, table: SynonymTable) -> list[str]:
    words = list(words)
    for _ in range(n):
        donors = [w for w in words if _replaceable(w, table)]
        if not donors:
            break
        synonym = rng.choice(table.synonyms(_core(rng.choice(donors))[1]))
        words.insert(rng.randint(0, len(words)), synonym)
    return words


def random_swap(words: list[str], n: int, rng: random.Random, table: SynonymTable) -> list[str]:
    words = list(words)
    if len(words) < 2:
        return words
    for _ in range(n):
        i, j = rng.sample(range(len(words)), 2)
        words[i], words[j] = words[j], words[i]
    return words


def random_delete(
    words: list[str], n: int, rng: random.Random, table: SynonymTable, *, alpha: float = 0.1
) -> list[str]:
    """Each word goes with probability α; at least one word always stays."""
    if len(words) < 2:
        return list(words)
    kept = [w for w in words if rng.random() >= alpha]
    return kept or [rng.choice(words)]


def shuffle(words: list[str], n: int, rng: random.Random, table: SynonymTable) -> list[str]:
    words = list(words)
    rng.shuffle(words)
    return words


APPLY = {"synonym": synonym_replace, "insert": random_insert, "swap": random_swap, "shuffle": shuffle}


def eda_variants(text: str, *, seed: int = 0, alpha: float = 0.1, variants: int = 4, operations=OPERATIONS,
                 table: SynonymTable | None = None) -> list[tuple[str, str]]:
    """Up to `variants` (operation, new text) pairs for `text`, deterministic for a given seed. A variant that
    equals the text or an earlier variant is still returned: filtering decides, and reports why."""
    operations = [op for op in ALL_OPERATIONS if op in operations]
    if not operations:
        raise ApplicationError("choose at least one EDA operation", where="operations")
    table = table or table_for(text)
    words, joiner = words_split(text, table)
    n = max(1, int(alpha * len(words)))
    out = []
    for index in range(variants):
        operation = operations[index % len(operations)]
        rng = random.Random(f"{seed}:{index}:{text}")
        if operation == "delete":
            changed = random_delete(words, n, rng, table, alpha=alpha)
        else:
            changed = APPLY[operation](words, n, rng, table)
        out.append((operation, joiner.join(changed)))
    return out
