"""TaskUnit decomposition and DAG execution."""

from __future__ import annotations

import asyncio

import pytest

from jarvis_tui.core.taskunits import (
    DONE,
    FAILED,
    SKIPPED,
    TaskUnit,
    check_graph,
    decompose,
    execute,
    unit_prompt,
)


def test_code_becomes_coder_then_reviewer_on_the_second_node() -> None:
    units = decompose("write a parser", "code", ["M2", "M3"])
    assert [(u.id, u.role, u.node, u.depends_on) for u in units] == [
        ("t1", "coder", "M2", ()), ("t2", "reviewer", "M3", ("t1",))]
    assert units[0].candidates == ["M2", "M3"] and units[1].candidates == ["M3", "M2"]
    for unit in units:
        assert (unit.status, unit.result, unit.quality_score, unit.task_type) == ("pending", None, None, "code")


def test_other_tasks_and_single_node_routes_are_one_unit() -> None:
    assert [(u.role, u.node, u.candidates) for u in decompose("hi", "simple", ["OL1", "M3"])] == [
        ("answer", "OL1", ["OL1", "M3"])]
    assert [u.role for u in decompose("code it", "code", ["M2"])] == ["answer"]
    assert [u.role for u in decompose("code it", "code", ["M2", "M3"], split_code=False)] == ["answer"]


def test_a_warning_hot_node_gets_a_lower_priority() -> None:
    units = decompose("x", "code", ["M2", "M3"], thermal_warning=lambda n: n == "M2")
    assert units[0].priority == 9 and units[1].priority == 5


def test_graph_checks() -> None:
    with pytest.raises(ValueError, match="cycle"):
        check_graph([TaskUnit("a", "", "", "", depends_on=("b",)), TaskUnit("b", "", "", "", depends_on=("a",))])
    with pytest.raises(ValueError, match="unknown"):
        check_graph([TaskUnit("a", "", "", "", depends_on=("zzz",))])
    with pytest.raises(ValueError, match="duplicate"):
        check_graph([TaskUnit("a", "", "", ""), TaskUnit("a", "", "", "")])


async def test_independent_units_run_concurrently_and_dependents_get_results() -> None:
    running: set[str] = set()
    overlap: list[set[str]] = []
    prompts: dict[str, str] = {}

    async def run(unit: TaskUnit, prompt: str) -> None:
        running.add(unit.id)
        overlap.append(set(running))
        prompts[unit.id] = prompt
        await asyncio.sleep(0.05)
        unit.result, unit.model = f"result of {unit.id}", "m"
        running.discard(unit.id)

    units = [TaskUnit("a", "task A", "code", "N1", "coder"), TaskUnit("b", "task B", "code", "N2"),
             TaskUnit("c", "task C", "code", "N3", "reviewer", depends_on=("a", "b"))]
    events: list[tuple[str, str]] = []
    await execute(units, run, publish=lambda u: events.append((u.id, u.status)))
    assert any({"a", "b"} <= s for s in overlap), "a and b did not overlap"
    assert "result of a" in prompts["c"] and "result of b" in prompts["c"] and "task C" in prompts["c"]
    assert all(u.status == DONE for u in units)
    assert events.index(("c", "running")) > max(events.index(("a", "done")), events.index(("b", "done")))


async def test_a_failed_unit_skips_its_dependents_but_not_the_others() -> None:
    async def run(unit: TaskUnit, prompt: str) -> None:
        if unit.id == "a":
            raise RuntimeError("node exploded")
        unit.result = "ok"

    units = [TaskUnit("a", "", "", "N1"), TaskUnit("b", "", "", "N2"), TaskUnit("c", "", "", "N3", depends_on=("a",))]
    await execute(units, run)
    assert [u.status for u in units] == [FAILED, DONE, SKIPPED]
    assert "node exploded" in units[0].error and "depends on failed" in units[2].error


def test_unit_prompt_labels_the_coder_answer() -> None:
    coder = TaskUnit("t1", "sort a list", "code", "M2", "coder", result="def f(): ...", model="deepseek")
    reviewer = TaskUnit("t2", "sort a list", "code", "M3", "reviewer", depends_on=("t1",))
    text = unit_prompt(reviewer, {"t1": coder, "t2": reviewer})
    assert text.startswith("Request:\nsort a list") and "Proposed solution from [M2/deepseek]:\ndef f(): ..." in text
