"""Task classification: the keyword heuristic, and the optional classifier node.

The heuristic reads its keyword lists from ``data/classifier_keywords.toml`` and
tries categories in the user's priority order (code-override > web-override >
trading > system > analysis > code > web > simple): the first category with a
keyword in the prompt decides.  Matching is case- and accent-insensitive and on
word boundaries, so "stratégie" matches "strategie" and "api" does not match
"rapide".  A keyword also matches its -s / -es plural.

A classifier node (``[commander] classifier_node``) may be asked first; its
answer counts only when it arrives within ``classifier_budget_ms`` (200 ms) and
names a known task type - otherwise the heuristic decides.  That lives in
``classify_with_node``; ``classify`` stays synchronous and pure for
``Orchestrator.classify``.
"""

from __future__ import annotations

import asyncio
import re
import time
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from jarvis_tui.paths import data_file, prompt_text

KEYWORDS_FILE = "classifier_keywords.toml"
_WORD = "a-z0-9"
_TOKEN = re.compile(f"[{_WORD}]+")


def fold(text: str) -> str:
    """Lower-case, accents removed, typographic apostrophes made plain."""
    if text.isascii():  # no accent, no typographic apostrophe: NFKD and the combining filter change nothing
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=64)
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


@dataclass(frozen=True, slots=True)
class Category:
    """One keyword category of the heuristic and the task type it routes as."""

    name: str
    task_type: str
    keywords: tuple[str, ...]
    regex: str
    # The first word of each keyword: a keyword can only match a prompt that contains it.
    needles: tuple[str, ...] = ()
    # The same test on the prompt's words (``_needle_sets``): a set lookup per word instead of one substring
    # search of the whole prompt per needle (7 categories, 9-30 needles each).
    word_needles: frozenset[str] = frozenset()
    other_needles: tuple[str, ...] = ()

    @property
    def pattern(self) -> re.Pattern[str]:
        """The compiled matcher, built on first use (most prompts never need most categories')."""
        return _compiled(self.regex)

    def first_match(self, folded: str, words: set[str] | None = None) -> str | None:
        """The keyword found in ``folded``; ``words`` (its ``_TOKEN`` runs) when the caller has them."""
        if self.needles:
            if words is None:
                words = set(_TOKEN.findall(folded))
            if not _has_needle(self.word_needles, self.other_needles, folded, words):
                return None
        match = self.pattern.search(folded)
        return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class KeywordClassifier:
    """Categories in priority order, and the task type when none matches."""

    categories: tuple[Category, ...]
    fallback: str
    # Every category's needles: a prompt with none of them (most short prompts) is the fallback after one
    # test instead of one per category.  Only when every category has needles.
    word_needles: frozenset[str] = frozenset()
    other_needles: tuple[str, ...] = ()
    prefilter: bool = False

    @property
    def task_types(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for category in self.categories:
            seen[category.task_type] = None
        seen[self.fallback] = None
        return tuple(seen)

    def explain(self, prompt: str) -> tuple[str, str | None, str | None]:
        """(task_type, category name, matched keyword); the last two are None for the fallback."""
        folded = fold(prompt)
        words = set(_TOKEN.findall(folded))
        if self.prefilter and not _has_needle(self.word_needles, self.other_needles, folded, words):
            return self.fallback, None, None
        for category in self.categories:
            keyword = category.first_match(folded, words)
            if keyword is not None:
                return category.task_type, category.name, keyword
        return self.fallback, None, None

    def classify(self, prompt: str) -> str:
        return self.explain(prompt)[0]


def _keyword_regex(keyword: str) -> str:
    words = fold(keyword).split()
    body = r"\s+".join(re.escape(w) for w in words)
    return body + "(?:e?s)?"


def build_classifier(raw: dict[str, Any], source: str = KEYWORDS_FILE) -> KeywordClassifier:
    """A classifier from the parsed TOML; raises ValueError naming the problem."""
    priority = raw.get("priority")
    categories_raw = raw.get("categories")
    if not isinstance(priority, list) or not isinstance(categories_raw, dict):
        raise ValueError(f"{source}: needs a `priority` list and [categories.*] tables")
    categories = []
    for name in priority:
        spec = categories_raw.get(name)
        if not isinstance(spec, dict):
            raise ValueError(f"{source}: priority names '{name}' but there is no [categories.{name}]")
        keywords = spec.get("keywords")
        if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) and k.strip()
                                                                     for k in keywords):
            raise ValueError(f"{source}: [categories.{name}] keywords must be a non-empty list of strings")
        # Longest first, so "dernieres nouvelles" is reported before a shorter overlap.
        ordered = sorted({fold(k).strip() for k in keywords}, key=len, reverse=True)
        alternatives = "|".join(_keyword_regex(k) for k in ordered)
        regex = rf"(?<![{_WORD}])({alternatives})(?![{_WORD}])"
        words = [k.split() for k in ordered]
        needles = tuple(dict.fromkeys(w[0] for w in words)) if all(words) else ()
        categories.append(Category(name, str(spec.get("task_type", name)), tuple(ordered), regex, needles,
                                   *_needle_sets(needles)))
    every = tuple(dict.fromkeys(n for c in categories for n in c.needles))
    return KeywordClassifier(tuple(categories), str(raw.get("fallback", "simple")), *_needle_sets(every),
                             prefilter=all(c.needles for c in categories))


def _has_needle(word_needles: frozenset[str], other_needles: tuple[str, ...], folded: str, words: set[str]) -> bool:
    """Whether ``folded`` (whose ``_TOKEN`` runs are ``words``) may hold one of the needles of ``_needle_sets``."""
    return not word_needles.isdisjoint(words) or any(n in folded for n in other_needles)


def _needle_sets(needles: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(words, others): a prompt can match a keyword only if one of its words is in ``words`` or it contains
    one of ``others``.

    A match starts where no ``_WORD`` character precedes it, with the keyword's first word; a needle made of
    ``_WORD`` characters is then a whole word of the prompt, followed by whitespace (more words) or by the
    plural -s/-es and a non-word character.  So the prompt's words include the needle, needle+s or needle+es.
    Other needles ("trade-off") are tested as substrings, as before.
    """
    plain = [n for n in needles if _TOKEN.fullmatch(n)]
    words = frozenset(w for n in plain for w in (n, n + "s", n + "es"))
    return words, tuple(n for n in needles if not _TOKEN.fullmatch(n))


@lru_cache(maxsize=4)
def load_classifier(path: str | None = None) -> KeywordClassifier:
    file = Path(path) if path else data_file(KEYWORDS_FILE)
    with open(file, "rb") as handle:
        return build_classifier(tomllib.load(handle), str(file))


def classify(prompt: str) -> str:
    """The heuristic task type of a prompt (code, web, trading, system, analysis or simple)."""
    return load_classifier().classify(prompt)


# ---------------------------------------------------------------- classifier node

class Classification(NamedTuple):
    """How a prompt's task type was decided: by the heuristic or by the classifier node.

    A named tuple, not a frozen dataclass: one is made per ask, in a third of the time.
    """

    task_type: str
    source: str  # "heuristic" | "node"
    latency_ms: float
    keyword: str | None = None
    node: str | None = None
    note: str = ""  # why the node's answer was not used

    def to_dict(self) -> dict[str, Any]:
        return {"task_type": self.task_type, "source": self.source, "latency_ms": round(self.latency_ms, 1),
                "keyword": self.keyword, "node": self.node, "note": self.note or None}


def parse_node_label(text: str, known: tuple[str, ...]) -> str | None:
    """The task type a classifier node named, if it named exactly one known type."""
    words = re.findall(r"[a-z_]+", fold(text))
    found = [w for w in words if w in known]
    return found[0] if found and len(set(found)) == 1 else None


def classify_heuristic(prompt: str) -> Classification:
    """The heuristic's classification, with no classifier node (what ``classify_with_node`` returns without one)."""
    started = time.perf_counter()
    task_type, _category, keyword = load_classifier().explain(prompt)
    return Classification(task_type, "heuristic", (time.perf_counter() - started) * 1000, keyword)


async def classify_with_node(orchestrator: Any, prompt: str, node: str | None, budget_ms: float,
                             extra_types: tuple[str, ...] = ()) -> Classification:
    """Ask the classifier node within ``budget_ms``; the heuristic decides otherwise."""
    if not node:
        return classify_heuristic(prompt)
    from jarvis_tui.nodes.base import ChatMessage, NodeError

    started = time.perf_counter()
    heuristic = load_classifier()
    task_type, _category, keyword = heuristic.explain(prompt)
    note = ""
    if node not in orchestrator.nodes:
        note = f"classifier node '{node}' is not configured"
    elif (reason := orchestrator.skip_reason(node)) is not None:
        note = f"classifier node skipped: {reason}"
    else:
        known = tuple(dict.fromkeys((*heuristic.task_types, *extra_types)))
        messages = [ChatMessage("system", prompt_text("classifier").format(types=", ".join(known))),
                    ChatMessage("user", prompt)]
        try:
            result = await asyncio.wait_for(
                orchestrator.dispatch(node, messages, task_type="classify"), budget_ms / 1000)
        except TimeoutError:
            note = f"classifier node gave no answer within {budget_ms:g} ms"
        except NodeError as error:
            note = f"classifier node failed: {error.outcome}"
        else:
            label = parse_node_label(result.text, known)
            if label is not None:
                return Classification(label, "node", (time.perf_counter() - started) * 1000, None, node)
            note = "classifier node's reply named no single known task type"
    return Classification(task_type, "heuristic", (time.perf_counter() - started) * 1000, keyword, note=note)
