"""Matching a spoken sentence to a command from ``data/commands.toml``.

Fuzzy matching uses rapidfuzz (MIT): a C++ implementation of Levenshtein
ratios that scores a sentence against ~200 phrase variants in well under a
millisecond, and whose ``ratio``/``token_sort_ratio`` tolerate both mis-heard
letters ("positons") and reordered words ("the BTC position close").
``token_set_ratio`` is deliberately not used: it scores any sentence that
*contains* a phrase's words as 100, so "explain how GPU temperature affects
clocks" would run a command instead of reaching the commander.

Both sides are folded (case, accents, punctuation) and filler words
("please", "the", "s'il te plaît") are dropped before scoring; a leading
"jarvis" / "hey jarvis" / "dis jarvis" and a trailing ", jarvis" are stripped.
Commands marked ``takes_rest`` (consensus, close position) match their phrase
at the start of the sentence and carry the rest of the sentence, as spoken,
in ``rest``.  Below the threshold, ``match`` returns None and the sentence
goes to the commander as a chat prompt.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from jarvis_tui.paths import data_file
from jarvis_tui.voice.corrections import fold

ACTIONS = (
    "focus_pane", "consensus", "health_check", "run_benchmark", "read_gpu_temps", "show_positions",
    "close_position", "voice_on", "voice_off", "new_conversation", "stop_speaking", "show_help",
)
_WORD = re.compile(r"\w+")


class CommandsError(Exception):
    """commands.toml is unreadable or malformed (one line)."""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    action: str
    arg: str | None
    phrases: tuple[str, ...]
    takes_rest: bool = False
    confirm: bool = False


@dataclass(frozen=True, slots=True)
class CommandMatch:
    action: str
    arg: str | None  # fixed argument from commands.toml (the pane for focus_pane)
    rest: str  # the words after the phrase, as spoken (the consensus question, the symbol to close)
    score: float  # 0..100
    phrase: str  # the variant that matched
    needs_confirmation: bool
    text: str  # the sentence that was matched


@dataclass(frozen=True, slots=True)
class _Token:
    norm: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Phrase:
    spec: CommandSpec
    text: str
    key: str  # folded, filler-free
    words: int


class CommandMatcher:
    def __init__(self, specs: list[CommandSpec], *, filler: set[str], wake_prefixes: set[str],
                 wake_word: str = "jarvis", threshold: float = 80.0) -> None:
        self.specs = specs
        self.filler = {fold(w) for w in filler}
        self.wake_prefixes = {fold(w) for w in wake_prefixes}
        self.wake_word = fold(wake_word)
        self.threshold = threshold
        self._phrases: list[_Phrase] = []
        for spec in specs:
            for phrase in spec.phrases:
                key = " ".join(self._content(_tokens(phrase)))
                if key:
                    self._phrases.append(_Phrase(spec, phrase, key, len(key.split())))

    # ------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None, *, wake_word: str = "jarvis",
             threshold: float = 80.0) -> CommandMatcher:
        path = Path(path) if path else data_file("commands.toml")
        try:
            raw = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise CommandsError(f"{path}: commands file not found") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CommandsError(f"{path}: cannot read commands ({exc})") from None
        matching = raw.get("matching", {})
        specs: list[CommandSpec] = []
        for number, entry in enumerate(raw.get("command", []), start=1):
            action = entry.get("action")
            phrases = entry.get("phrases")
            if action not in ACTIONS:
                raise CommandsError(f"{path}: command #{number}: unknown action '{action}'; "
                                    f"use one of {', '.join(ACTIONS)}")
            if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) for p in phrases):
                raise CommandsError(f"{path}: command #{number} ({action}) needs phrases = [\"...\", ...]")
            specs.append(CommandSpec(action=action, arg=entry.get("arg"), phrases=tuple(phrases),
                                     takes_rest=bool(entry.get("takes_rest", False)),
                                     confirm=bool(entry.get("confirm", False))))
        if not specs:
            raise CommandsError(f"{path}: no [[command]] entries")
        return cls(specs, filler=set(matching.get("filler", [])),
                   wake_prefixes=set(matching.get("wake_prefixes", [])), wake_word=wake_word, threshold=threshold)

    # ------------------------------------------------------------ matching
    def _content(self, tokens: list[_Token]) -> list[str]:
        return [t.norm for t in tokens if t.norm not in self.filler]

    def strip_wake_word(self, tokens: list[_Token]) -> list[_Token]:
        """Drop a leading "[hey|ok|dis] jarvis" and a trailing "jarvis"."""
        index = 0
        while index < len(tokens) and tokens[index].norm in self.wake_prefixes:
            index += 1
        if index < len(tokens) and tokens[index].norm == self.wake_word:
            tokens = tokens[index + 1:]
        if tokens and tokens[-1].norm == self.wake_word:
            tokens = tokens[:-1]
        return tokens

    def score_all(self, text: str) -> list[tuple[float, _Phrase, str]]:
        """(score, phrase, rest) for every phrase, best first."""
        from rapidfuzz import fuzz

        tokens = self.strip_wake_word(_tokens(text))
        content = [t for t in tokens if t.norm not in self.filler]
        query = " ".join(t.norm for t in content)
        results: list[tuple[float, _Phrase, str]] = []
        if not query:
            return results
        for phrase in self._phrases:
            best = max(fuzz.ratio(query, phrase.key), fuzz.token_sort_ratio(query, phrase.key))
            rest = ""
            if phrase.spec.takes_rest:
                # The phrase must open the sentence; what follows is the argument.
                prefix_best, prefix_rest = 0.0, ""
                for n in range(max(1, phrase.words - 1), min(len(content) - 1, phrase.words + 1) + 1):
                    score = fuzz.ratio(" ".join(t.norm for t in content[:n]), phrase.key)
                    if score > prefix_best:
                        prefix_best, prefix_rest = score, _tail(text, content[n - 1].end)
                if prefix_best >= best:
                    best, rest = prefix_best, prefix_rest
                else:
                    # Matched as a whole with the argument inside: "close the BTC position" -> "BTC".
                    phrase_words = set(phrase.key.split())
                    rest = " ".join(text[t.start:t.end] for t in content if t.norm not in phrase_words)
            results.append((best, phrase, rest))
        # On a tie the longer phrase wins: "consensus sur" over "consensus" keeps "sur" out of the question.
        results.sort(key=lambda r: (-r[0], -r[1].words))
        return results

    def warm_up(self) -> None:
        """Import rapidfuzz now (~22 ms), off the path of the first transcript, which would pay it otherwise.

        Never raises: without rapidfuzz the first match reports it, as it did before.
        """
        try:
            from rapidfuzz import fuzz  # noqa: F401
        except ImportError:
            pass

    def match(self, text: str) -> CommandMatch | None:
        """The best command at or above the threshold, or None (send it to the commander)."""
        results = self.score_all(text)
        if not results or results[0][0] < self.threshold:
            return None
        score, phrase, rest = results[0]
        spec = phrase.spec
        return CommandMatch(action=spec.action, arg=spec.arg, rest=rest, score=round(score, 1), phrase=phrase.text,
                            needs_confirmation=spec.confirm, text=text)


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _WORD.finditer(text):
        tokens.append(_Token(fold(match.group()), match.start(), match.end()))
    return tokens


def _tail(text: str, start: int) -> str:
    return text[start:].lstrip(" ,:;-").strip().rstrip(" .!")
