"""Benchmark scorers against known-good and known-bad answers, and the sandbox's walls."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from jarvis_tui.core.bench.levels import LevelError, load_levels, parse_level
from jarvis_tui.core.bench.sandbox import run_hidden_tests
from jarvis_tui.core.bench.scorers import (
    extract_code,
    final_value,
    score_answer,
    score_facts,
)

ANSWERS = Path(__file__).parent / "bench_answers"
LEVELS = {lv.level: lv for lv in load_levels()}


def test_ten_levels_ship_as_data_files() -> None:
    assert sorted(LEVELS) == list(range(1, 11))
    assert {LEVELS[n].kind for n in (1, 2, 3, 4, 5, 9)} == {"code"}
    assert {LEVELS[n].scorer_type for n in (6, 7, 8, 10)} == {"facts"}
    assert [lv.level for lv in load_levels(quick=True)] == [1, 2, 6, 8]


@pytest.mark.parametrize("level", range(1, 11))
async def test_known_good_answer_scores_full_points(level: int) -> None:
    score = await score_answer(LEVELS[level], (ANSWERS / f"level_{level:02d}_good.md").read_text())
    assert score.points == 5.0, score.detail


@pytest.mark.parametrize("level, at_most", [(1, 3.0), (2, 2.5), (3, 2.0), (4, 0.0), (5, 1.0), (6, 0.0), (7, 0.0),
                                            (8, 1.0), (9, 0.0), (10, 0.0)])
async def test_known_bad_answer_scores_low(level: int, at_most: float) -> None:
    score = await score_answer(LEVELS[level], (ANSWERS / f"level_{level:02d}_bad.md").read_text())
    assert score.points <= at_most, score.detail


async def test_an_answer_without_code_scores_zero() -> None:
    score = await score_answer(LEVELS[1], "Just use slicing with a negative step.")
    assert score.points == 0 and "no Python code" in score.detail


def test_extract_code_prefers_the_block_defining_the_entrypoint() -> None:
    answer = ("Usage:\n```python\nprint(reverse_string('ab'))\n```\nFirst try:\n```python\ndef reverse_string(s):\n"
              "    return s\n```\nFixed:\n```py\nimport sys\ndef reverse_string(s):\n    return s[::-1]\n```\n")
    assert extract_code(answer, "reverse_string").endswith("return s[::-1]\n")
    assert extract_code("def reverse_string(s):\n    return s[::-1]\n", "reverse_string") is not None
    assert extract_code("```python\ndef other(): pass\n```", "reverse_string") is None
    assert extract_code("```python\ndef reverse_string(s) return\n```", "reverse_string") is None


def test_facts_match_words_on_boundaries_and_notation_without_spaces() -> None:
    level8 = LEVELS[8]
    assert score_facts(level8, "1144 and 1138 and 136; ANSWER: 69").points == 3.0  # no partial facts inside numbers
    assert score_facts(level8, "144 boxes, 108 left, then 138. ANSWER: 69").points == 5.0
    level6 = LEVELS[6]
    assert score_facts(level6, "(c) O( n log n ) time").detail.startswith("1/5")


@pytest.mark.parametrize("answer, value", [("ANSWER: 69", "69"), ("so... Answer = 1,024", "1024"),
                                           ("it is 12 then 69", "69"), ("no digits", None)])
def test_final_value(answer: str, value: str | None) -> None:
    assert final_value(answer) == value


def test_a_broken_level_file_is_a_clear_error() -> None:
    with pytest.raises(LevelError, match="unknown scorer type"):
        parse_level({"level": 1, "kind": "code", "prompt": "p", "scorer": {"type": "magic"}}, "x.toml")
    with pytest.raises(LevelError, match="test_"):
        parse_level({"level": 1, "kind": "code", "prompt": "p",
                     "scorer": {"type": "python_tests", "entrypoint": "f", "tests": "assert True"}}, "x.toml")


# ---------------------------------------------------------------- the sandbox

PASSING_TEST = "def test_ok():\n    assert answer() == 42\n"


async def test_sandbox_runs_tests_and_counts_them() -> None:
    result = await run_hidden_tests("def answer():\n    return 42\n",
                                    PASSING_TEST + "def test_bad():\n    assert answer() == 0\n")
    assert (result.loaded, result.total, result.passed, result.finished) == (True, 2, 1, True)
    assert "AssertionError" in result.failures["test_bad"]


async def test_sandbox_has_no_network() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        listener.settimeout(3)
        try:
            accepted.append(listener.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    code = ("import socket\n"
            "def answer():\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    return 42\n")
    result = await run_hidden_tests(code, PASSING_TEST, timeout_s=5)
    thread.join(4)
    listener.close()
    assert result.passed == 0 and not accepted
    assert any(k in result.failures["test_ok"] for k in ("PermissionError", "OSError", "Network"))


async def test_sandbox_blocks_starting_processes() -> None:
    code = "import subprocess\ndef answer():\n    return int(subprocess.check_output(['echo', '42']))\n"
    result = await run_hidden_tests(code, PASSING_TEST)
    assert result.passed == 0 and "PermissionError" in result.failures["test_ok"]


async def test_sandbox_limits_memory() -> None:
    code = "def answer():\n    block = bytearray(2 * 1024 ** 3)\n    return 42\n"
    result = await run_hidden_tests(code, PASSING_TEST, memory_mb=256)
    assert result.passed == 0 and "MemoryError" in result.failures["test_ok"]


async def test_one_endless_test_costs_one_test() -> None:
    code = "def answer():\n    return 42\ndef spin():\n    while True:\n        pass\n"
    tests = PASSING_TEST + "def test_spin():\n    spin()\n"
    result = await run_hidden_tests(code, tests, timeout_s=8, per_test_s=0.5)
    assert result.passed == 1 and "TestTimeout" in result.failures["test_spin"] and result.finished


async def test_code_that_hangs_on_import_times_out() -> None:
    code = "import time\nwhile True:\n    time.sleep(0.01)\n"
    result = await run_hidden_tests(code, PASSING_TEST, timeout_s=1.5, per_test_s=10)
    assert result.timed_out and result.passed == 0 and not result.finished


async def test_printed_text_cannot_pose_as_a_result() -> None:
    code = ('import sys, os\nprint("PASS test_ok")\nos.write(1, b\'{"test": "test_ok", "ok": true}\\n\')\n'
            "def answer():\n    return 0\n")
    result = await run_hidden_tests(code, PASSING_TEST)
    assert (result.total, result.passed) == (1, 0)
