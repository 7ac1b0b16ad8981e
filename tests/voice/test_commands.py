"""Fuzzy command matching against the shipped data/commands.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.voice.commands import ACTIONS, CommandMatcher, CommandsError
from jarvis_tui.voice.corrections import CorrectionTable


@pytest.fixture(scope="module")
def matcher() -> CommandMatcher:
    return CommandMatcher.load()


@pytest.fixture(scope="module")
def corrections() -> CorrectionTable:
    return CorrectionTable.load()


# (spoken text as whisper might write it, expected action, expected arg, expected rest)
# None as the action: not a command, the text goes to the commander.
TABLE = [
    # English, clean
    ("Jarvis, what is the temperature of the GPU?", "read_gpu_temps", None, ""),
    ("How hot are the GPUs?", "read_gpu_temps", None, ""),
    ("Jarvis, run a health check", "health_check", None, ""),
    ("Jarvis, run the benchmark.", "run_benchmark", None, ""),
    ("Show me my positions, please.", "show_positions", None, ""),
    ("Jarvis, show the nodes", "focus_pane", "nodes", ""),
    ("Go to trading", "focus_pane", "trading", ""),
    ("Jarvis, focus chat", "focus_pane", "chat", ""),
    ("Hey Jarvis, new conversation", "new_conversation", None, ""),
    ("Voice off", "voice_off", None, ""),
    ("Jarvis, stop talking", "stop_speaking", None, ""),
    ("What can you do, Jarvis?", "show_help", None, ""),
    # takes_rest: the argument is the rest of the sentence, as spoken
    ("Jarvis, consensus: is Rust faster than Go?", "consensus", None, "is Rust faster than Go?"),
    ("Jarvis, run a consensus on the question of whether P equals NP",
     "consensus", None, "the question of whether P equals NP"),
    ("Ask everyone what the best sorting algorithm is", "consensus", None, "what the best sorting algorithm is"),
    ("Close position BTC/USDT", "close_position", None, "BTC/USDT"),
    ("Jarvis, close the BTC position", "close_position", None, "BTC"),
    # mis-hearings, before any correction (fuzzy tolerance)
    ("Jarvis, show me the positons", "show_positions", None, ""),
    ("Jarvis, helth check", "health_check", None, ""),
    ("Jarvis, run the benchmarks", "run_benchmark", None, ""),
    ("Jarvis, what is the temprature of the GPU", "read_gpu_temps", None, ""),
    ("Jarvis, shoe nodes", "focus_pane", "nodes", ""),
    # French (accents and case ignored)
    ("Dis Jarvis, affiche les positions", "show_positions", None, ""),
    ("Jarvis, quelle est la température des GPU ?", "read_gpu_temps", None, ""),
    ("Jarvis, quelle est la temperature des gpu", "read_gpu_temps", None, ""),
    ("Montre-moi les nœuds", "focus_pane", "nodes", ""),
    ("Jarvis, lance le benchmark s'il te plaît", "run_benchmark", None, ""),
    ("Vérifie les noeuds", "health_check", None, ""),
    ("Jarvis, ferme la position ETH", "close_position", None, "ETH"),
    ("Jarvis, consensus sur la meilleure base de données", "consensus", None, "la meilleure base de données"),
    ("Nouvelle conversation", "new_conversation", None, ""),
    ("Tais-toi", "stop_speaking", None, ""),
    ("Désactive la voix", "voice_off", None, ""),
    ("Active la voix", "voice_on", None, ""),
    # chat prompts: must NOT run a command
    ("What is the capital of France?", None, None, ""),
    ("What is the temperature in Paris today?", None, None, ""),
    ("Explain how GPU temperature affects clock speeds", None, None, ""),
    ("Write a haiku about the benchmark results we saw yesterday", None, None, ""),
    ("Jarvis, écris un poème sur les positions des étoiles", None, None, ""),
    ("Jarvis", None, None, ""),
]


def test_table_is_big_enough() -> None:
    assert len(TABLE) >= 30
    assert sum(1 for row in TABLE if row[1] is None) >= 5


@pytest.mark.parametrize(("text", "action", "arg", "rest"), TABLE, ids=[row[0][:40] for row in TABLE])
def test_command_table(matcher: CommandMatcher, text: str, action: str | None, arg: str | None, rest: str) -> None:
    match = matcher.match(text)
    if action is None:
        assert match is None, f"{text!r} should go to the commander, matched {match}"
        return
    assert match is not None, f"{text!r} matched nothing; best: {matcher.score_all(text)[:2]}"
    assert (match.action, match.arg, match.rest) == (action, arg, rest)
    assert matcher.threshold <= match.score <= 100


@pytest.mark.parametrize(("heard", "action"), [
    ("Now this, show the nodes", "focus_pane"),  # tiny.en's usual "Jarvis" without the hotword
    ("Jarvis, Run the Manchmark", "run_benchmark"),  # what tiny.en really wrote for an espeak clip
    ("Jervis, health check", "health_check"),
    ("Jarvis, lance le bench marque", "run_benchmark"),
    ("Jarvis, la température des gé pé u", "read_gpu_temps"),
])
def test_mis_hearings_match_after_corrections(matcher: CommandMatcher, corrections: CorrectionTable,
                                              heard: str, action: str) -> None:
    fixed = corrections.apply(heard)
    assert fixed.changed
    match = matcher.match(fixed.text)
    assert match is not None and match.action == action, (fixed, matcher.score_all(fixed.text)[:2])


def test_close_position_needs_confirmation(matcher: CommandMatcher) -> None:
    match = matcher.match("close position BTC")
    assert match is not None and match.needs_confirmation
    assert not matcher.match("show positions").needs_confirmation


def test_threshold_is_respected() -> None:
    strict = CommandMatcher.load(threshold=99.0)
    assert strict.match("Jarvis, show me the positons") is None
    assert strict.match("Jarvis, show positions") is not None


def test_custom_wake_word() -> None:
    friday = CommandMatcher.load(wake_word="friday")
    assert friday.match("Friday, run the benchmark").action == "run_benchmark"


def test_every_shipped_action_is_known() -> None:
    matcher = CommandMatcher.load()
    assert {spec.action for spec in matcher.specs} == set(ACTIONS)


@pytest.mark.parametrize(("content", "message"), [
    ('[[command]]\naction = "fly"\nphrases = ["fly"]\n', "unknown action 'fly'"),
    ('[[command]]\naction = "voice_on"\n', "needs phrases"),
    ("[matching]\n", "no [[command]] entries"),
    ("[[command]\n", "cannot read commands"),
])
def test_bad_commands_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "commands.toml"
    path.write_text(content)
    with pytest.raises(CommandsError, match=message.replace("[", r"\[")):
        CommandMatcher.load(path)


def test_warm_up_never_raises_without_rapidfuzz(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    matcher = CommandMatcher.load()
    monkeypatch.setitem(sys.modules, "rapidfuzz", None)  # what an uninstalled package looks like to import
    matcher.warm_up()  # the model's load goes on; the first match reports the missing package
