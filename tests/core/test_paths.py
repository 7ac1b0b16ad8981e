"""Prompts and word lists ship in data/ (issue 4: not in code); the core reads them through paths."""

from __future__ import annotations

import re

import pytest

from jarvis_tui.core.consensus import answer_key
from jarvis_tui.core.taskunits import role_system_prompt
from jarvis_tui.paths import PACKAGE_DIR, prompt_text, word_list

SHIPPED_PROMPTS = ("bench", "classifier", "coder", "consensus", "redispatch", "reviewer", "synthesis", "verifier")


@pytest.mark.parametrize("name", SHIPPED_PROMPTS)
def test_every_prompt_the_core_names_ships_in_data(name: str) -> None:
    assert len(prompt_text(name)) > 40


def test_every_prompt_named_in_the_core_is_one_that_ships() -> None:
    named = set()
    for source in (PACKAGE_DIR / "core").rglob("*.py"):
        named |= set(re.findall(r'prompt_text\("(\w+)"\)', source.read_text("utf-8")))
    named |= {"coder", "reviewer"}  # through role_system_prompt
    assert named <= set(SHIPPED_PROMPTS)


def test_roles_take_their_prompts_from_data() -> None:
    assert role_system_prompt("coder") == prompt_text("coder")
    assert role_system_prompt("reviewer") == prompt_text("reviewer")
    assert role_system_prompt("answer") is None


def test_consensus_stop_words_come_from_the_word_list() -> None:
    words = word_list("consensus_stop_words")
    assert {"the", "answer", "est", "c'est"} <= words
    assert not any(word.startswith("#") for word in words)
    assert answer_key("The answer is 4.") == "4"
    assert answer_key("La réponse est 4") == "4"
