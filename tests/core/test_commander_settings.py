"""The [commander] config table."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.config import ConfigError, load_config
from jarvis_tui.core.commander_settings import CommanderSettings


def _load(tmp_path: Path, body: str):
    path = tmp_path / "c.toml"
    path.write_text(body)
    return load_config(str(path))


def test_defaults() -> None:
    settings = CommanderSettings()
    assert settings.verify_threshold == 0.7 and settings.verify_max_cycles == 2
    assert settings.classifier_budget_ms == 200 and settings.weak_confidence == 0.6
    assert not settings.verify_for("code")
    # `jarvis --once` skips the commander pipeline when the file has no [commander] table:
    # that is only right while the defaults verify nothing and name no classifier node.
    assert not settings.verify and settings.classifier_node is None


def test_full_table(tmp_path: Path) -> None:
    config = _load(tmp_path, '[commander]\nverify = ["code", "critical"]\ncommander_node = "CLAUDE"\n'
                             'classifier_node = "OL1"\nnode_deadlines_s = { GEMINI = 80, M1 = 30 }\n'
                             'consensus_deadline_s = 60\nsimilarity_threshold = 85\n')
    settings = config.section("commander")
    assert settings.verify_for("code") and not settings.verify_for("simple")
    assert settings.commander_node == "CLAUDE" and settings.classifier_node == "OL1"
    assert settings.vote_deadline_s("GEMINI", 120) == 60  # capped by the round's deadline
    assert settings.vote_deadline_s("M1", 60) == 30
    assert settings.vote_deadline_s("M2", 20) == 20


def test_verify_true_means_every_task_type(tmp_path: Path) -> None:
    assert _load(tmp_path, "[commander]\nverify = true\n").section("commander").verify_for("anything")


@pytest.mark.parametrize("body, message", [
    ("verify_threshold = 1.5", "verify_threshold must be in (0, 1]"),
    ("verify = [1]", "verify must be a list of task types"),
    ("verify_max_cycles = 9", "verify_max_cycles must be 0..5"),
    ("node_deadlines_s = { M1 = -1 }", "node_deadlines_s.M1 must be a number of seconds > 0"),
    ("similarity_threshold = 0", "similarity_threshold must be in (0, 100]"),
    ("classifier_budget_ms = 0", "classifier_budget_ms must be > 0"),
    ("commander_node = 3", "commander_node must be a string"),
])
def test_bad_values_are_located_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, f"[commander]\n{body}\n")
    assert message in str(info.value) and info.value.line == 2


def test_unknown_key_is_a_warning(tmp_path: Path) -> None:
    config = _load(tmp_path, "[commander]\nverfy = true\n")
    assert any("verfy" in str(w) for w in config.warnings)
