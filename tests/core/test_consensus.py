"""Consensus arithmetic: answer keys, clusters, confidence, early decision, ties, all-fail, single source."""

from __future__ import annotations

import pytest

from jarvis_tui.core.commander_settings import CommanderSettings
from jarvis_tui.core.consensus import (
    FLAG_EARLY,
    FLAG_NONE,
    FLAG_SINGLE,
    FLAG_TIE,
    FLAG_WEAK,
    ClusterBook,
    ConsensusRound,
    Vote,
    answer_key,
    can_decide_early,
    conclude,
    readable_answer,
    short_answer,
    confidence,
    decision_flags,
    pick_winner,
)

USER_PROFILE = [("OL1", 1.3, 0.5), ("M2", 1.4, 1.3), ("M3", 1.0, 2.5), ("M1", 0.7, 12.0), ("GEMINI", 1.1, 75.0)]


@pytest.mark.parametrize("answer, key", [
    ("4", "4"),
    ("The answer is 4.", "4"),
    ("ANSWER: 4\nbecause 2 + 2 = 4", "4"),
    ("**Answer:** 4.0", "4"),
    ("La réponse est 4 !", "4"),
])
def test_answer_key_normalises_short_answers(answer: str, key: str) -> None:
    assert answer_key(answer, "What is 2+2?") == key


def test_answer_key_drops_words_echoed_from_the_question() -> None:
    prompt = "What is the capital of France?"
    assert answer_key("Paris", prompt) == answer_key("The capital of France is Paris.", prompt) == "paris"
    assert answer_key("The capital of France is Lyon.", prompt) == "lyon"


def test_short_answers_agree_only_when_equal() -> None:
    book = ClusterBook("What is the capital of France?")
    assert book.add("A", 1.0, "Paris") == 0
    assert book.add("B", 1.0, "The capital of France is Paris.") == 0
    assert book.add("C", 1.0, "Lyon") == 1
    assert book.weights() == [2.0, 1.0]
    assert book.nodes(0) == ["A", "B"]


def test_long_answers_cluster_by_token_set_similarity() -> None:
    book = ClusterBook("Why is the sky blue?", similarity_threshold=80)
    rayleigh = ("Sunlight is scattered by the molecules of the atmosphere; Rayleigh scattering is much stronger "
                "for short wavelengths, so blue light reaches us from every direction.")
    rayleigh_reworded = ("Because of Rayleigh scattering: the molecules of the atmosphere scatter short "
                         "wavelengths, blue light, much more strongly than red, so blue light reaches us from "
                         "every direction of the sky.")
    ocean = "It reflects the colour of the oceans, which cover most of the planet and are deep blue in colour."
    assert book.add("A", 1.4, rayleigh) == 0
    assert book.add("B", 1.0, rayleigh_reworded) == 0
    assert book.add("C", 0.7, ocean) == 1


def test_short_against_long_needs_close_overall_similarity() -> None:
    book = ClusterBook("Is Python interpreted?", short_answer_words=3)
    book.add("A", 1.0, "yes")
    assert book.add("B", 1.0, "yes and no: it compiles to bytecode which a virtual machine then interprets") == 1


def test_a_late_vote_never_moves_an_earlier_one() -> None:
    book = ClusterBook("q")
    first = book.add("A", 1.0, "alpha")
    book.add("B", 1.0, "beta")
    book.add("C", 1.0, "alpha")
    assert first == 0 and book.nodes(0) == ["A", "C"] and book.nodes(1) == ["B"]


def test_confidence_is_winning_weight_over_answered_weight() -> None:
    assert confidence(3.7, 3.7) == 1.0
    assert confidence(2.7, 3.7) == pytest.approx(0.7297, abs=1e-4)
    assert confidence(0.0, 0.0) == 0.0


def test_early_decision_on_the_users_latency_profile_stops_at_the_third_answer() -> None:
    """All agree: after OL1 (0.5 s) and M2 (1.3 s) the rest could still win; after M3 (2.5 s) they cannot."""
    answered: list[float] = []
    pending = sum(w for _, w, _ in USER_PROFILE)
    decided_at = None
    for name, weight, latency in USER_PROFILE:
        answered.append(weight)
        pending -= weight
        if can_decide_early([sum(answered)], pending):
            decided_at = (name, latency)
            break
    assert decided_at == ("M3", 2.5)


def test_early_decision_waits_while_a_tie_is_possible() -> None:
    assert not can_decide_early([2.0], 2.0)   # the pending 2.0 could tie
    assert can_decide_early([2.0001], 2.0)
    assert not can_decide_early([2.4, 1.3], 1.1)  # 1.3 + 1.1 = 2.4 ties
    assert can_decide_early([2.4, 1.3], 1.0)
    assert not can_decide_early([], 0.0)
    assert can_decide_early([1.0], 0.0)


def test_pick_winner_breaks_ties_by_best_member_then_first_formed() -> None:
    assert pick_winner([2.0, 1.0], [0, 0]) == (0, False)
    assert pick_winner([1.0, 1.0], [1.0, 1.4]) == (1, True)
    assert pick_winner([1.0, 1.0], [1.0, 1.0]) == (0, True)
    assert pick_winner([], []) == (None, False)


def test_flags() -> None:
    assert decision_flags(0, 0.0, False, False, 0.6) == [FLAG_NONE]
    assert decision_flags(1, 1.0, False, False, 0.6) == [FLAG_SINGLE]
    assert decision_flags(3, 0.59, False, False, 0.6) == [FLAG_WEAK]
    assert decision_flags(3, 0.6, False, False, 0.6) == []
    assert decision_flags(2, 0.5, True, False, 0.6) == [FLAG_WEAK, FLAG_TIE]
    assert decision_flags(3, 1.0, False, True, 0.6) == [FLAG_EARLY]


def _round(answers: list[tuple[str, float, str | None]]) -> tuple[ConsensusRound, ClusterBook]:
    """answers: (node, weight, answer or None for a failure) in arrival order."""
    book = ClusterBook("What is 2+2?")
    votes = []
    for arrival, (node, weight, answer) in enumerate(answers, start=1):
        vote = Vote(node, "m", weight, 10.0)
        if answer is None:
            vote.status = "failed"
        else:
            vote.status, vote.answer, vote.arrival = "answered", answer, arrival
            vote.cluster = book.add(node, weight, answer)
        votes.append(vote)
    return ConsensusRound("r1", "What is 2+2?", votes), book


def test_conclude_majority_with_a_dissent() -> None:
    round_, book = _round([("OL1", 1.3, "4"), ("M2", 1.4, "ANSWER: 4"), ("M1", 0.7, "5")])
    conclude(round_, book, CommanderSettings())
    assert round_.verdict_node == "M2"  # the heaviest member of the winning cluster speaks for it
    assert round_.confidence == pytest.approx(2.7 / 3.4)
    assert round_.flags == []
    assert [d.nodes for d in round_.disagreements] == [["M1"]]
    assert "[M1/m] (poids 0.7): 5" == round_.disagreements[0].line()


def test_conclude_weak_consensus() -> None:
    round_, book = _round([("A", 1.0, "4"), ("B", 0.8, "5"), ("C", 0.7, "6")])
    conclude(round_, book, CommanderSettings())
    assert round_.confidence == pytest.approx(0.4)
    assert FLAG_WEAK in round_.flags and len(round_.disagreements) == 2


def test_conclude_tie_is_flagged_and_broken_by_the_heavier_member() -> None:
    round_, book = _round([("A", 1.0, "4"), ("B", 1.0, "5")])
    conclude(round_, book, CommanderSettings())
    assert FLAG_TIE in round_.flags and FLAG_WEAK in round_.flags
    assert round_.confidence == pytest.approx(0.5)
    assert round_.verdict_node == "A"  # equal members: the cluster that formed first


def test_conclude_all_failed() -> None:
    round_, book = _round([("A", 1.0, None), ("B", 1.0, None)])
    conclude(round_, book, CommanderSettings())
    assert round_.verdict is None and round_.flags == [FLAG_NONE] and round_.confidence == 0.0


def test_conclude_single_source() -> None:
    round_, book = _round([("A", 1.0, None), ("B", 0.7, "4")])
    conclude(round_, book, CommanderSettings())
    assert round_.verdict == "4" and round_.flags == [FLAG_SINGLE] and round_.confidence == 1.0


@pytest.mark.parametrize("answer,shown", [
    ("ANSWER: Canberra\nIt has been the capital since 1913.", "Canberra"),
    ("**Answer:** 4", "4"),
    ("Réponse : Paris", "Paris"),
    ("\n\nParis is the capital.\nMore text.", "Paris is the capital."),
    ("", ""),
])
def test_short_answer_is_the_answer_line_else_the_first_line(answer: str, shown: str) -> None:
    assert short_answer(answer) == shown


@pytest.mark.parametrize("answer,readable", [
    ("ANSWER: Canberra\nIt was chosen in 1908.", "Canberra\n\nIt was chosen in 1908."),
    ("Some reasoning first.\n**Answer:** 4", "4\n\nSome reasoning first."),
    ("ANSWER: 4", "4"),
    ("Just prose.\n", "Just prose."),
])
def test_readable_answer_turns_the_marker_line_into_a_paragraph(answer: str, readable: str) -> None:
    assert readable_answer(answer) == readable
