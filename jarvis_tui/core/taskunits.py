"""TaskUnits: a task split into units that run as a small dependency graph.

``decompose`` turns a classified prompt into units.  A ``code`` task becomes
t1, a coder on the first code node, and t2, a reviewer on the second code
node that depends on t1 and receives t1's answer; every other task is one
``answer`` unit.  ``execute`` runs the graph: units whose dependencies are done
start at once and run concurrently; a unit whose dependency failed is skipped.

Each unit goes through ``Orchestrator.ask`` with its own candidate list (its
target node first, then the rest of the route), so fallback, skip reasons
(disabled, no key, thermal critical, cooling down) and thermal ordering
(warning-hot nodes drop behind cool ones) are the orchestrator's, and every
substitution is recorded in the unit's ``attempts``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jarvis_tui.paths import prompt_text

PENDING, RUNNING, DONE, FAILED, SKIPPED = "pending", "running", "done", "failed", "skipped"

PROMPTED_ROLES = ("coder", "reviewer")  # their system prompts: data/prompts/ROLE.md; "answer" has none


def role_system_prompt(role: str) -> str | None:
    return prompt_text(role) if role in PROMPTED_ROLES else None


@dataclass(slots=True)
class TaskUnit:
    id: str
    prompt: str
    task_type: str
    node: str  # target node; after execution, the node that answered
    role: str = "answer"  # answer | coder | reviewer
    priority: int = 0  # higher runs first among ready units
    depends_on: tuple[str, ...] = ()
    status: str = PENDING
    result: str | None = None
    quality_score: float | None = None
    candidates: list[str] = field(default_factory=list)
    attempts: list[Any] = field(default_factory=list)  # orchestrator.Attempt
    model: str = ""
    latency_ms: float | None = None
    error: str = ""
    ask_result: Any = None  # orchestrator.AskResult of the final answer

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "task_type": self.task_type, "node": self.node,
                "model": self.model or None, "priority": self.priority, "depends_on": list(self.depends_on),
                "status": self.status, "quality_score": self.quality_score,
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
                "attempts": [a.to_dict() for a in self.attempts], "error": self.error or None,
                "result": self.result}


def decompose(prompt: str, task_type: str, route: list[str], *, split_code: bool = True,
              thermal_warning: Callable[[str], bool] = lambda _n: False) -> list[TaskUnit]:
    """The units for a task.  ``route`` is already ordered (thermal-hot nodes last)."""
    if not route:
        return [TaskUnit("t1", prompt, task_type, "", candidates=[])]

    def candidates_from(first: str) -> list[str]:
        return [first, *[n for n in route if n != first]]

    def priority(node: str, base: int) -> int:
        return base - 1 if thermal_warning(node) else base

    if task_type == "code" and split_code and len(route) >= 2:
        coder, reviewer = route[0], route[1]
        return [
            TaskUnit("t1", prompt, task_type, coder, "coder", priority(coder, 10), (), candidates=candidates_from(coder)),
            TaskUnit("t2", prompt, task_type, reviewer, "reviewer", priority(reviewer, 5), ("t1",),
                     candidates=candidates_from(reviewer)),
        ]
    return [TaskUnit("t1", prompt, task_type, route[0], "answer", priority(route[0], 10), (),
                     candidates=list(route))]


def unit_prompt(unit: TaskUnit, units: dict[str, TaskUnit]) -> str:
    """The unit's prompt with the results of the units it depends on."""
    if not unit.depends_on:
        return unit.prompt
    parts = [f"Request:\n{unit.prompt}"]
    for dep_id in unit.depends_on:
        dep = units[dep_id]
        label = "Proposed solution" if dep.role == "coder" else f"Result of {dep.id} ({dep.role})"
        parts.append(f"{label} from [{dep.node}/{dep.model}]:\n{dep.result or ''}")
    return "\n\n".join(parts)


def check_graph(units: list[TaskUnit]) -> None:
    """Raise ValueError for unknown dependencies, duplicate ids or cycles."""
    ids = [u.id for u in units]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate task unit ids: {ids}")
    known = set(ids)
    deps = {u.id: set(u.depends_on) for u in units}
    for unit in units:
        missing = deps[unit.id] - known
        if missing:
            raise ValueError(f"unit {unit.id} depends on unknown unit(s) {sorted(missing)}")
    resolved: set[str] = set()
    while len(resolved) < len(units):
        ready = [i for i in ids if i not in resolved and deps[i] <= resolved]
        if not ready:
            raise ValueError(f"task units form a cycle: {sorted(set(ids) - resolved)}")
        resolved.update(ready)


RunUnit = Callable[[TaskUnit, str], Awaitable[None]]


async def execute(units: list[TaskUnit], run_unit: RunUnit, *, publish: Callable[[TaskUnit], None] = lambda u: None
                  ) -> list[TaskUnit]:
    """Run the graph.  ``run_unit(unit, prompt)`` fills result/status/attempts or raises."""
    by_id = {u.id: u for u in units}
    running: dict[asyncio.Task[None], TaskUnit] = {}

    async def run(unit: TaskUnit) -> None:
        unit.status = RUNNING
        publish(unit)
        try:
            await run_unit(unit, unit_prompt(unit, by_id))
        except asyncio.CancelledError:
            unit.status, unit.error = FAILED, "cancelled"
            publish(unit)
            raise
        except Exception as exc:  # noqa: BLE001 - one unit's failure is recorded, not propagated
            unit.status = FAILED
            unit.error = unit.error or f"{type(exc).__name__}: {exc}"
        else:
            if unit.status == RUNNING:
                unit.status = DONE
        publish(unit)

    if len(units) == 1 and not units[0].depends_on and units[0].status == PENDING:
        # The usual plan, one unit: run it in the caller's task.  A task and an asyncio.wait for it
        # cost ~5% of Commander.ask against an instant node (bench/routing_overhead.py); a cancellation
        # reaches run() all the same and is recorded there as for a spawned unit.
        # One unit without dependencies is a valid graph: check_graph is skipped.
        await run(units[0])
        return units
    check_graph(units)
    try:
        while True:
            for unit in units:
                if unit.status != PENDING:
                    continue
                dep_states = [by_id[d].status for d in unit.depends_on]
                if any(s in (FAILED, SKIPPED) for s in dep_states):
                    unit.status, unit.error = SKIPPED, "a unit it depends on failed"
                    publish(unit)
            ready = sorted((u for u in units if u.status == PENDING
                            and all(by_id[d].status == DONE for d in u.depends_on)),
                           key=lambda u: -u.priority)
            for unit in ready:
                running[asyncio.create_task(run(unit), name=f"unit-{unit.id}")] = unit
            if not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                running.pop(task)
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    return units


def unit_event(plan_id: str, unit: TaskUnit) -> Any:
    """The TaskUnitChanged event for ``unit`` (its module is imported only when an event is built)."""
    from jarvis_tui.core.commander_events import TaskUnitChanged

    return TaskUnitChanged(plan_id=plan_id, unit_id=unit.id, role=unit.role, task_type=unit.task_type,
                           node=unit.node, status=unit.status, priority=unit.priority, depends_on=unit.depends_on,
                           quality_score=unit.quality_score, error=unit.error)
