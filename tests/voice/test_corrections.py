"""The mis-hearing dictionary and the time-boxed LLM correction step."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from jarvis_tui.voice.corrections import (
    CorrectionResult,
    CorrectionsError,
    CorrectionTable,
    TranscriptCorrector,
    fold,
)


@pytest.fixture(scope="module")
def table() -> CorrectionTable:
    return CorrectionTable.load()


@pytest.mark.parametrize(("heard", "fixed"), [
    ("Now this, what is the temperature of the GPU?", "Jarvis, what is the temperature of the GPU?"),
    ("now this show the nodes", "Jarvis show the nodes"),
    ("Jervis, run the benchmark", "Jarvis, run the benchmark"),
    ("Jarvis, Run the Manchmark", "Jarvis, Run the benchmark"),
    ("Jarvis, quelle est la température des gé pé u ?", "Jarvis, quelle est la température des GPU ?"),
    ("Jarvis, quelle est la temperature des GE PE U ?", "Jarvis, quelle est la temperature des GPU ?"),  # accents
    ("Jarvis, lance un concensus sur Rust", "Jarvis, lance un consensus sur Rust"),
    ("Jarvis, est-ce que o lama tourne ?", "Jarvis, est-ce que Ollama tourne ?"),
    ("Jarvis, ferme la position b t c", "Jarvis, ferme la position BTC"),
])
def test_dictionary_fixes(table: CorrectionTable, heard: str, fixed: str) -> None:
    result = table.apply(heard)
    assert result.text == fixed
    assert result.changed and result.applied


@pytest.mark.parametrize("text", [
    "I will do it now, this time for real",  # "now this" only counts at the start
    "Tell me about the Davisson experiment",  # whole words only: "davis" is not inside "Davisson"
    "The benchmarking suite",  # whole words only
    "Jarvis, what is the temperature of the GPU?",
])
def test_dictionary_leaves_correct_text_alone(table: CorrectionTable, text: str) -> None:
    result = table.apply(text)
    assert result.text == text and not result.applied


def test_fold_ignores_case_and_accents() -> None:
    assert fold("Écoute les NŒUDS, ça chauffe") == "ecoute les noeuds, ca chauffe"


def test_keys_match_whole_words_only() -> None:
    table = CorrectionTable.from_mapping({"gpu": "GPU"})
    assert table.apply("gpu gpus gpu-bound").text == "GPU gpus GPU-bound"


def test_a_rule_matches_the_text_an_earlier_rule_changed() -> None:
    # The longer key applies first and shortens the text (and drops its accents); the next rule's match must
    # be placed in that new text, not in the folding of the original.
    table = CorrectionTable.from_mapping({"gé pé u": "GPU", "x": "y"})
    result = table.apply("Les gé pé u de x, x")
    assert result.text == "Les GPU de y, y"
    assert result.applied == ("gé pé u -> GPU", "x -> y")


def _apply_folding_per_rule(table: CorrectionTable, text: str) -> CorrectionResult:
    """The table's rules one at a time, each as a table of its own: the text is folded afresh for every rule."""
    current, applied = text, ()
    for rule in table.rules:
        step = CorrectionTable([rule]).apply(current)
        current, applied = step.text, applied + step.applied
    return CorrectionResult(original=text, text=current, applied=applied)


def test_folding_once_gives_what_folding_per_rule_gave(table: CorrectionTable) -> None:
    keys = [rule.wrong for rule in table.rules]
    sentences = [f"{key}, {other} et {key.upper()} puis {other.title()}." for key in keys for other in keys[::7]]
    sentences += [f"  {key} — {key}!" for key in keys]
    for sentence in sentences:
        assert table.apply(sentence) == _apply_folding_per_rule(table, sentence), sentence


def test_bad_corrections_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('[anywhere]\n"x" = 3\n')
    with pytest.raises(CorrectionsError, match="must map"):
        CorrectionTable.load(bad)
    with pytest.raises(CorrectionsError, match="not found"):
        CorrectionTable.load(tmp_path / "missing.toml")


async def test_llm_correction_applies_after_the_dictionary(table: CorrectionTable) -> None:
    seen: list[str] = []

    async def fast_node(text: str) -> str:
        seen.append(text)
        return text.replace("tempature", "temperature")

    corrector = TranscriptCorrector(table, fast_node, llm_timeout_s=2.0)
    result = await corrector.correct("Now this, what is the tempature of the GPU?")
    assert seen == ["Jarvis, what is the tempature of the GPU?"]  # the dictionary ran first
    assert result.text == "Jarvis, what is the temperature of the GPU?"
    assert result.applied[-1] == "llm" and not result.llm_error


async def test_slow_llm_is_cut_off_at_the_timeout(table: CorrectionTable) -> None:
    async def slow_node(text: str) -> str:
        await asyncio.sleep(5)
        return "never used"

    corrector = TranscriptCorrector(table, slow_node, llm_timeout_s=0.2)
    started = time.perf_counter()
    result = await corrector.correct("Now this, run the benchmark")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert result.text == "Jarvis, run the benchmark"  # the dictionary result stands
    assert "timed out after 0.2 s" in result.llm_error
    assert corrector.stats["llm_timeout"] == 1


async def test_failing_or_chatty_llm_is_ignored(table: CorrectionTable) -> None:
    async def broken(text: str) -> str:
        raise ConnectionError("node M2 refused the connection")

    async def chatty(text: str) -> str:
        return "Sure! Here is the corrected text:\n" + text + "\nLet me know if you need anything else." * 3

    result = await TranscriptCorrector(table, broken).correct("Jarvis, run the benchmark")
    assert result.text == "Jarvis, run the benchmark" and "refused" in result.llm_error
    result = await TranscriptCorrector(table, chatty).correct("Jarvis, run the benchmark")
    assert result.text == "Jarvis, run the benchmark" and "not a correction" in result.llm_error
