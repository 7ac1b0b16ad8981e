"""Fixing what whisper mis-hears: a dictionary first, then optionally a fast LLM.

The dictionary (``data/voice_corrections.toml``) maps mis-heard phrases to
their fix.  Matching is on whole words, case- and accent-insensitive
("Géo PU" and "geo pu" are the same key), and keeps the rest of the sentence
exactly as whisper wrote it.  ``[start]`` entries apply only at the start of
the utterance, where the wake word lives: "now this" is a fine phrase
mid-sentence.

The LLM step is a callable the owner passes in (``voice.llm.node_corrector``
asks the configured fast node through the orchestrator).  It gets a short
timeout; when it is slow, fails, or answers something implausible, the
dictionary result stands.
"""

from __future__ import annotations

import re
import time
import tomllib
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from jarvis_tui.paths import data_file
from jarvis_tui.voice.llm import within

LlmCorrector = Callable[[str], Awaitable[str]]
# Characters of markdown or markup: a reply that adds them is formatting an answer, not fixing words.
_MARKUP = re.compile(r"[*`#<>\[\]{}|_~]")


class CorrectionsError(Exception):
    """The corrections file is unreadable or malformed (one line)."""


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Écoute' -> 'ecoute', 'nœud' -> 'noeud'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss").replace("’", "'")


def _fold_with_map(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each folded char the index of the original char it came from."""
    out: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        folded = fold(ch)
        out.append(folded)
        origin.extend([index] * len(folded))
    return "".join(out), origin


def _key_pattern(key: str) -> str:
    words = re.findall(r"[\w']+", fold(key))
    # Between the words of a key, allow any run of spaces, hyphens and commas:
    # whisper writes "now, this" and "jar-vis" as readily as "now this".
    return r"[\s,\-]+".join(re.escape(w) for w in words)


@dataclass(frozen=True, slots=True)
class CorrectionRule:
    wrong: str
    right: str
    at_start: bool
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    original: str
    text: str
    applied: tuple[str, ...] = ()  # "now this -> Jarvis", "llm"
    llm_error: str = ""
    llm_s: float = 0.0
    # The LLM step: "skipped" (no node, or nothing to correct), "ran" (its reply stands, even when it
    # changed nothing) or "fell_back" (slow, failed or implausible: the dictionary text stands).
    llm: str = "skipped"

    @property
    def changed(self) -> bool:
        return self.text != self.original


class CorrectionTable:
    def __init__(self, rules: list[CorrectionRule]) -> None:
        # Longest keys first, so "now this is" wins over "now this".
        self.rules = sorted(rules, key=lambda r: -len(r.wrong))

    @classmethod
    def from_mapping(cls, anywhere: dict[str, str], start: dict[str, str] | None = None) -> CorrectionTable:
        rules: list[CorrectionRule] = []
        for mapping, at_start in ((anywhere, False), (start or {}, True)):
            for wrong, right in mapping.items():
                body = _key_pattern(wrong)
                if not body:
                    continue
                prefix = r"^[\s\W]*" if at_start else r"(?<![\w'])"
                pattern = re.compile(f"{prefix}({body})(?![\\w'])")
                rules.append(CorrectionRule(wrong, right, at_start, pattern))
        return cls(rules)

    @classmethod
    def load(cls, path: str | Path | None = None) -> CorrectionTable:
        path = Path(path) if path else data_file("voice_corrections.toml")
        try:
            raw = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise CorrectionsError(f"{path}: corrections file not found") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CorrectionsError(f"{path}: cannot read corrections ({exc})") from None
        tables = {}
        for name in ("anywhere", "start"):
            table = raw.get(name, {})
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise CorrectionsError(f"{path}: [{name}] must map \"mis-heard\" = \"fix\" strings")
            tables[name] = table
        return cls.from_mapping(tables["anywhere"], tables["start"])

    def apply(self, text: str) -> CorrectionResult:
        current = text
        applied: list[str] = []
        # Folded once, and again only after a rule changed the text (folding per rule was 4 of the ~30 ms
        # between whisper's end and the transcript on screen, with 54 rules).
        folded, origin = _fold_with_map(current)
        for rule in self.rules:
            pieces: list[str] = []
            last = 0
            for match in rule.pattern.finditer(folded):
                start_f, end_f = match.span(1)
                if start_f == end_f:
                    continue
                start, end = origin[start_f], origin[end_f - 1] + 1
                if start < last:
                    continue
                pieces.append(current[last:start])
                pieces.append(rule.right)
                last = end
                if rule.at_start:
                    break
            if pieces:
                pieces.append(current[last:])
                current = "".join(pieces)
                applied.append(f"{rule.wrong} -> {rule.right}")
                folded, origin = _fold_with_map(current)
        return CorrectionResult(original=text, text=current, applied=tuple(applied))


def plausible_llm_fix(before: str, after: str) -> bool:
    """A correction, not an answer: similar length, not empty, one line, no markup the input lacked."""
    after = after.strip()
    if not after or "\n" in after:
        return False
    if set(_MARKUP.findall(after)) - set(_MARKUP.findall(before)):
        return False
    return 0.5 * len(before) <= len(after) <= 1.6 * len(before) + 10


@dataclass
class TranscriptCorrector:
    table: CorrectionTable
    llm: LlmCorrector | None = None
    llm_timeout_s: float = 2.0
    stats: dict[str, int] = field(default_factory=lambda: {"llm_ok": 0, "llm_timeout": 0, "llm_error": 0})

    async def correct(self, text: str) -> CorrectionResult:
        result = self.table.apply(text)
        if self.llm is None or not result.text.strip():
            return result
        started = time.perf_counter()
        try:
            answer = await within(self.llm(result.text), self.llm_timeout_s)
        except TimeoutError:
            self.stats["llm_timeout"] += 1
            return _with_llm(result, result.text, f"LLM correction timed out after {self.llm_timeout_s:g} s",
                             time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - any node failure leaves the dictionary result
            self.stats["llm_error"] += 1
            return _with_llm(result, result.text, f"LLM correction failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                             time.perf_counter() - started)
        elapsed = time.perf_counter() - started
        fixed = (answer or "").strip().strip('"').strip()
        if not plausible_llm_fix(result.text, fixed):
            self.stats["llm_error"] += 1
            return _with_llm(result, result.text, "LLM correction ignored: the reply was not a correction", elapsed)
        self.stats["llm_ok"] += 1
        return _with_llm(result, fixed, "", elapsed)


def _with_llm(result: CorrectionResult, text: str, error: str, elapsed: float) -> CorrectionResult:
    applied = result.applied + (("llm",) if text != result.text else ())
    return CorrectionResult(original=result.original, text=text, applied=applied, llm_error=error, llm_s=elapsed,
                            llm="fell_back" if error else "ran")
