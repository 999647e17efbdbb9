"""`did_you_mean`: the query with each misspelled word replaced by the closest word that the
engine highlighted in the caller's own fuzzy hits. Never from an index-wide term dictionary or
suggester: those hold every tenant's words, and a suggestion would leak them."""

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Final

from parley_search.operators import ParsedQuery, fuzzy_eligible

_MARKED: Final = re.compile(r"<em>(.*?)</em>", re.DOTALL)
MAX_EDITS: Final = 2


def fold(word: str) -> str:
    """Lowercase without accents: how `content.exact` compares words."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    neighbours each count one (the engine's fuzzy matching counts the same way)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(row[j - 1] + 1, rows[i - 1][j] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def marked_words(fragments: Iterable[str]) -> Counter[str]:
    """The words the engine marked in highlight fragments, as text, by how often."""
    found: Counter[str] = Counter()
    for fragment in fragments:
        for marked in _MARKED.findall(fragment):
            for word in html.unescape(marked).split():
                found[word.casefold()] += 1
    return found


def closest(word: str, candidates: Counter[str]) -> str | None:
    target = fold(word)
    best: tuple[int, int, str] | None = None
    for candidate, count in candidates.items():
        distance = edit_distance(target, fold(candidate))
        if distance > MAX_EDITS:
            continue
        rank = (distance, -count, candidate)
        if best is None or rank < best:
            best = rank
    return best[2] if best else None


def did_you_mean(q: str, parsed: ParsedQuery, fragments: Iterable[str]) -> str | None:
    candidates = marked_words(fragments)
    if not candidates:
        return None
    suggestion = q
    for word in parsed.words:
        if not fuzzy_eligible(word) or fold(word) in {fold(c) for c in candidates}:
            continue
        replacement = closest(word, candidates)
        if replacement is None:
            continue
        pattern = re.compile(rf"(?<!\S){re.escape(word)}(?!\S)")
        suggestion = pattern.sub(replacement.replace("\\", "\\\\"), suggestion, count=1)
    return suggestion if suggestion != q else None
