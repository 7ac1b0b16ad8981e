"""The heuristic classifier: priority order, FR + EN keywords, accents, word boundaries."""

from __future__ import annotations

import pytest

from jarvis_tui.core.classify import (
    build_classifier,
    classify,
    fold,
    load_classifier,
    parse_node_label,
)

LABELLED = [
    # code-override beats everything
    ("Debug ce script python qui plante", "code"),
    ("J'ai un segfault dans mon programme C", "code"),
    ("Fix the bug in the trading bot's signal handler", "code"),
    ("Peux-tu corriger cette fonction ?", "code"),
    ("Refactor the Windows service wrapper", "code"),
    ("Here is a traceback, what went wrong?", "code"),
    ("Patch the analysis module for the BTC feed", "code"),
    ("There is a race condition in my asyncio code", "code"),
    # web-override beats trading, system, analysis
    ("Quelles sont les dernières nouvelles sur le BTC ?", "web"),
    ("Donne-moi l'actualité du trading crypto", "web"),
    ("Latest news about the Windows update", "web"),
    ("Any news on the ETH merge analysis?", "web"),
    # trading
    ("Donne-moi un signal sur SOL", "trading"),
    ("Is this a breakout on BTC/USDT?", "trading"),
    ("Ouvre une position sur MEXC en trading", "trading"),
    ("Should I set a stop loss on my ethereum long?", "trading"),
    ("Analyse le breakout de l'ETH", "trading"),
    # system
    ("Ouvre le fichier de configuration", "system"),
    ("Ferme toutes les fenêtres de PowerShell", "system"),
    ("Redémarre le service nginx", "system"),
    ("Open the downloads folder", "system"),
    ("Close the file explorer on Windows", "system"),
    ("Écris un script python qui lit un fichier", "system"),
    # analysis
    ("Analyse l'architecture de ce projet", "analysis"),
    ("Quelle stratégie pour migrer la base ?", "analysis"),
    ("Run a security audit of our API design", "analysis"),
    ("Compare these two approaches, pros and cons", "analysis"),
    ("What are the trade-offs of microservices?", "analysis"),
    ("Benchmark ces deux modèles", "analysis"),
    # code
    ("Écris une fonction Python qui inverse une chaîne", "code"),
    ("Write a React component for a login form", "code"),
    ("Create a Flask API endpoint", "code"),
    ("Implémente un algorithme de tri", "code"),
    ("Write unit tests with pytest for this class", "code"),
    ("Convert this SQL query to an ORM call", "code"),
    # web
    ("Cherche la documentation de httpx", "web"),
    ("Recherche un bon restaurant à Lyon", "web"),
    ("Search Google for the release date", "web"),
    ("Look up the docs for asyncio.timeout", "web"),
    # simple
    ("Bonjour, comment ça va ?", "simple"),
    ("What is 2+2?", "simple"),
    ("Raconte-moi une blague", "simple"),
    ("Give me a synonym for rapid", "simple"),
    ("Quelle heure est-il à Tokyo ?", "simple"),
    ("Translate 'good morning' into Spanish", "simple"),
]


def test_at_least_40_labelled_prompts_in_french_and_english() -> None:
    assert len(LABELLED) >= 40
    assert {t for _, t in LABELLED} == {"code", "web", "trading", "system", "analysis", "simple"}


def test_every_labelled_prompt_is_classified_correctly() -> None:
    wrong = [(p, want, classify(p)) for p, want in LABELLED if classify(p) != want]
    assert wrong == [], f"misclassified: {wrong}"


@pytest.mark.parametrize("prompt", ["STRATÉGIE de sortie ?", "strategie de sortie ?", "Stratègie de sortie ?"])
def test_accents_and_case_do_not_matter(prompt: str) -> None:
    assert classify(prompt) == "analysis"


@pytest.mark.parametrize("prompt, expected", [
    ("Une réponse rapide s'il te plaît", "simple"),   # "api" inside "rapide"
    ("The codex of Hammurabi", "simple"),            # "code" inside "codex"
    ("Ethics in philosophy", "simple"),              # "eth" inside "ethics"
    ("Consolidate my notes", "simple"),              # "sol" inside "consolidate"
    ("Two bugs in one codebase", "code"),            # plural of bug
    ("Open these files", "system"),                  # plural of file
])
def test_keywords_match_on_word_boundaries_with_plurals(prompt: str, expected: str) -> None:
    assert classify(prompt) == expected


def test_priority_order_is_the_users() -> None:
    classifier = load_classifier()
    assert [c.name for c in classifier.categories] == [
        "code_override", "web_override", "trading", "system", "analysis", "code", "web"]
    assert classifier.fallback == "simple"


def test_explain_names_the_category_and_keyword() -> None:
    task_type, category, keyword = load_classifier().explain("Quelles sont les dernières nouvelles ?")
    assert (task_type, category, keyword) == ("web", "web_override", "dernieres nouvelles")
    assert load_classifier().explain("hello")[1:] == (None, None)


def test_broken_keyword_file_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="priority names 'nope'"):
        build_classifier({"priority": ["nope"], "categories": {}})
    with pytest.raises(ValueError, match="non-empty list"):
        build_classifier({"priority": ["a"], "categories": {"a": {"keywords": []}}})


def test_fold_removes_accents_and_case() -> None:
    assert fold("Dernières Nouvelles — ÉTÉ") == "dernieres nouvelles — ete"


@pytest.mark.parametrize("reply, expected", [
    ("code", "code"), ("Code.", "code"), ("task type: trading", "trading"), ("  SIMPLE\n", "simple"),
    ("code or web", None), ("I think it's about cooking", None), ("", None),
])
def test_classifier_node_reply_parsing(reply: str, expected: str | None) -> None:
    known = ("code", "web", "trading", "system", "analysis", "simple")
    assert parse_node_label(reply, known) == expected


def test_needle_prefilter_agrees_with_the_full_pattern() -> None:
    """Categories compile lazily and skip prompts without any keyword's first word: same answers."""
    classifier = load_classifier()
    keywords = [k for c in classifier.categories for k in c.keywords]
    prompts = [fold(p) for p in (
        "What is 2+2?", "hello", "Une réponse rapide s'il te plaît", "The codex of Hammurabi",
        "Quelles sont les dernières nouvelles ?", "Two bugs in one codebase", "Open these files",
        *keywords, *(k + "s" for k in keywords), *(k + "es" for k in keywords), *("x" + k for k in keywords),
        *(k.replace(" ", "\n  ") for k in keywords if " " in k), " ".join(keywords),
    )]
    for category in classifier.categories:
        assert category.needles
        for prompt in prompts:
            match = category.pattern.search(prompt)
            assert category.first_match(prompt) == (match.group(1) if match else None), (category.name, prompt)
    assert classifier.prefilter and "trade-off" in classifier.other_needles  # a needle that is not one word
    for prompt in prompts:  # the classifier-wide prefilter (no needle at all: the fallback) changes no answer
        first = next(((c, m) for c in classifier.categories if (m := c.pattern.search(prompt))), None)
        expected = (first[0].task_type, first[0].name, first[1].group(1)) if first else (classifier.fallback,
                                                                                         None, None)
        assert classifier.explain(prompt) == expected, prompt
