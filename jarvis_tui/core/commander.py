"""The Commander: the one facade the faces call for the commander pipeline.

    commander = Commander(orchestrator)            # settings from [commander]
    result = await commander.ask(prompt)           # classify -> TaskUnits -> (verify) -> synthesis
    round_ = await commander.consensus(prompt)     # weighted consensus, stored, events live
    await commander.synthesize_round(round_, on_delta=...)   # [DETAIL]: Claude streams, else best-scored
    report = await commander.bench(quick=True)     # the 10-level benchmark (see core/bench)

It adds no second path to the nodes: every request goes through
``Orchestrator.ask`` / ``Orchestrator.dispatch``, so metrics, breakers, events
and request rows stay the orchestrator's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from jarvis_tui.core.classify import (
    Classification,
    classify_heuristic,
    classify_with_node,
    load_classifier,
)
from jarvis_tui.core.commander_settings import CommanderSettings
from jarvis_tui.core.orchestrator import AskResult, Attempt, NoNodeAvailable
from jarvis_tui.core.store import NewMessage
from jarvis_tui.core.synthesis import Contribution, Synthesis, attribution, synthesize
from jarvis_tui.core.taskunits import (
    DONE,
    TaskUnit,
    decompose,
    execute,
    role_system_prompt,
    unit_event,
)
from jarvis_tui.core.text import one_line

if TYPE_CHECKING:
    from jarvis_tui.core.consensus import ConsensusRound, Vote

# `jarvis --once` goes through Commander.ask on every call, so what only some calls need is
# imported where it is used: the event classes (only when the bus has a subscriber), consensus and
# verification (tests/integration/test_cli_headless.py keeps it that way).  What every call needs
# (the orchestrator's result classes, the store's NewMessage, synthesis - standard library only) is
# imported here: an import statement in a function costs ~3 us per call on the 2-CPU box, and
# Commander.ask ran five of them (bench/routing_overhead.py).

ROUTABLE_EXTRA_TYPES = ("architecture", "consensus", "reasoning", "critical")


class Commander:
    def __init__(self, orchestrator: Any, settings: CommanderSettings | None = None) -> None:
        self.orchestrator = orchestrator
        self.settings = settings if settings is not None else orchestrator.config.section("commander")

    # ------------------------------------------------------------------ classification

    async def classify(self, prompt: str) -> Classification:
        node = self.settings.classifier_node
        # The extra types are for the classifier node's prompt only: without a node, not worth building.
        extra = tuple(t for t in ROUTABLE_EXTRA_TYPES if t in self.orchestrator.config.routing) if node else ()
        return await classify_with_node(self.orchestrator, prompt, node, self.settings.classifier_budget_ms, extra)

    # ------------------------------------------------------------------ ask

    async def ask(self, prompt: str, *, node: str | None = None, task_type: str | None = None,
                  verify: bool | None = None, on_delta: Callable[[str], None] | None = None,
                  conversation_id: int | None = None) -> Any:
        """Answer through TaskUnits; raises orchestrator.NoNodeAvailable when no unit could answer.

        ``verify`` None means "as [commander] verify says for this task type".
        """
        orch = self.orchestrator
        started = time.perf_counter()
        plan_id = f"p{orch.next_request_id()}"
        if task_type is None:
            # Without a classifier node the heuristic is synchronous: no coroutine to create and await.
            classification = (await self.classify(prompt) if self.settings.classifier_node
                              else classify_heuristic(prompt))
        else:
            classification = Classification(task_type, "given", 0.0)
        task_type = classification.task_type
        if orch.bus.subscriber_count:
            from jarvis_tui.core.commander_events import Classified

            orch.bus.publish(Classified(plan_id=plan_id, task_type=task_type, source=classification.source,
                                        latency_ms=classification.latency_ms, keyword=classification.keyword))
        if task_type == "consensus" and node is None:
            return await self._ask_by_consensus(prompt, plan_id, classification, on_delta, conversation_id)
        verify = self.settings.verify_for(task_type) if verify is None else verify

        if node is not None:
            if node not in orch.nodes:
                raise KeyError(node)
            units = [TaskUnit("t1", prompt, task_type, node, "answer", 10, (), candidates=[node])]
        else:
            route = orch.order_by_thermal(orch.route(task_type))
            units = decompose(prompt, task_type, route, split_code=self.settings.decompose,
                              thermal_warning=self._thermal_warning)

        # A follow-up keeps its context (a new conversation has none: no read, no coroutine).
        history = await orch.conversation_turns(conversation_id) if conversation_id is not None else []
        unit_delta = on_delta if len(units) == 1 else None

        def run_unit(unit: TaskUnit, unit_prompt: str) -> Coroutine[Any, Any, None]:
            # A plain function returning _run_unit's coroutine: an ``async def`` wrapper would be one more
            # frame that every resumption of the request (~10 per answer) passes through.
            return self._run_unit(unit, unit_prompt, plan_id, verify and unit.role in ("answer", "coder"),
                                  forced=node is not None, on_delta=unit_delta, history=history,
                                  conversation_id=conversation_id)

        def publish(unit: TaskUnit) -> None:
            if orch.bus.subscriber_count:
                orch.bus.publish(unit_event(plan_id, unit))

        await execute(units, run_unit, publish=publish)
        attempts = [a for u in units for a in u.attempts]
        done = [u for u in units if u.status == DONE and u.result is not None]
        if not done:
            reasons = "; ".join(f"{a.node} {a.outcome} ({a.error})" for a in attempts)
            message = (f"no node is routed for task type '{task_type}'" if not attempts
                       else f"no node could answer: {reasons}")
            raise NoNodeAvailable(message, attempts, task_type)

        if len(done) == 1:  # one answer is the answer: nothing to weigh or synthesise
            only = done[0]
            synthesis = Synthesis(only.result or "", only.node, only.model, False, [attribution(only.node, only.model)])
        else:
            contributions = [Contribution(u.node, u.model, u.result or "", u.role, u.quality_score,
                                          orch.nodes[u.node].config.weight) for u in done]
            synthesis = await synthesize(orch, prompt, contributions, settings=self.settings, round_id=plan_id,
                                         on_delta=on_delta)
        final_unit = next((u for u in done if u.node == synthesis.node), done[0])
        base = final_unit.ask_result
        conversation_id = await self._persist_exchange(prompt, task_type, synthesis, conversation_id,
                                                       (time.perf_counter() - started) * 1000)
        extra: dict[str, Any] = {
            "classification": classification.to_dict(),
            "units": [u.to_dict() for u in units],
            "synthesis": synthesis.to_dict() if len(done) > 1 else None,
        }
        if verify:
            extra["verification"] = {u.id: u.quality_score for u in units}
        same_as_unit = synthesis.node == final_unit.node and not synthesis.streamed and len(done) == 1
        return AskResult(
            answer=synthesis.text, node=synthesis.node, model=synthesis.model, task_type=task_type,
            latency_ms=(time.perf_counter() - started) * 1000,
            ttft_ms=base.ttft_ms if same_as_unit and base is not None else None,
            tokens_in=base.tokens_in if same_as_unit and base is not None else None,
            tokens_out=base.tokens_out if same_as_unit and base is not None else None,
            tokens_per_s=base.tokens_per_s if same_as_unit and base is not None else None,
            attempts=attempts, request_id=plan_id, conversation_id=conversation_id, extra=extra)

    def _thermal_warning(self, name: str) -> bool:
        view = self.orchestrator.thermal(name)
        return view is not None and view.status == "warning"

    async def _run_unit(self, unit: TaskUnit, unit_prompt: str, plan_id: str, verify: bool, *, forced: bool,
                        on_delta: Callable[[str], None] | None, history: list[Any] | None = None,
                        conversation_id: int | None = None) -> None:
        orch = self.orchestrator
        system = role_system_prompt(unit.role)

        def ask(text: str, cycle: int) -> Coroutine[Any, Any, AskResult]:
            return orch.ask(text, task_type=unit.task_type, persist=False, system=system,
                            on_delta=on_delta if cycle == 0 else None, node=unit.candidates[0] if forced else None,
                            candidates=None if forced else unit.candidates, history=history,
                            conversation_id=conversation_id)

        def failed(exc: NoNodeAvailable) -> None:
            unit.attempts.extend(exc.attempts)
            unit.error = one_line(str(exc), 300)

        async def answer(text: str, cycle: int) -> tuple[str, str, Any]:  # the verifier's re-dispatches
            try:
                result = await ask(text, cycle)
            except NoNodeAvailable as exc:
                failed(exc)
                raise
            unit.attempts.extend(result.attempts)
            return result.answer, result.node, result

        # The first answer is awaited here, not through ``answer``: one frame less on every resumption.
        try:
            result = await ask(unit_prompt, 0)
        except NoNodeAvailable as exc:
            failed(exc)
            raise
        unit.attempts.extend(result.attempts)
        chosen = result
        if verify:
            from jarvis_tui.core.verify import verified_answer

            best, _history = await verified_answer(
                orch, unit_prompt, answer, threshold=self.settings.verify_threshold,
                max_cycles=self.settings.verify_max_cycles, plan_id=plan_id, unit_id=unit.id,
                first=(result.answer, result.node, result))
            chosen = best.payload
            unit.quality_score = best.verification.score
        unit.result, unit.node, unit.model = chosen.answer, chosen.node, chosen.model
        unit.latency_ms, unit.ask_result = chosen.latency_ms, chosen

    async def _ask_by_consensus(self, prompt: str, plan_id: str, classification: Classification,
                                on_delta: Callable[[str], None] | None, conversation_id: int | None) -> Any:
        from jarvis_tui.core.consensus import readable_answer

        round_ = await self.consensus(prompt, round_id=plan_id)
        attempts = [Attempt(v.node, v.outcome or v.status, v.latency_ms, v.error, v.model) for v in round_.votes]
        if round_.verdict is None:
            raise NoNodeAvailable("no node could answer the consensus round", attempts, "consensus")
        await self.synthesize_round(round_, on_delta=on_delta)
        text = round_.synthesis or readable_answer(round_.verdict)  # the stored round keeps the raw vote
        node = round_.synthesis_node or round_.verdict_node or ""
        model = round_.synthesis_model or round_.verdict_model or ""
        # Stored like any exchange, so a consensus asked in the chat stays in its conversation.
        sources = [attribution(v.node, v.model) for v in round_.answered]
        conversation_id = await self._persist_exchange(
            prompt, "consensus", Synthesis(text, node, model, round_.synthesis_streamed, sources), conversation_id,
            round_.wall_ms)
        return AskResult(answer=text, node=node, model=model, task_type="consensus", latency_ms=round_.wall_ms,
                         ttft_ms=None, tokens_in=None, tokens_out=None, tokens_per_s=None, attempts=attempts,
                         request_id=plan_id, conversation_id=conversation_id,
                         extra={"classification": classification.to_dict(), "consensus": round_.to_json()})

    async def _persist_exchange(self, prompt: str, task_type: str, synthesis: Synthesis,
                                conversation_id: int | None, latency_ms: float) -> int | None:
        store = self.orchestrator.store
        if store is None or store._db is None:
            return conversation_id
        try:  # one write, one group commit: the conversation (if new), the prompt and the answer
            conversation_id, _ids = await store.add_messages(conversation_id, [
                NewMessage("user", prompt, task_type=task_type),
                NewMessage("assistant", synthesis.text, node=synthesis.node, model=synthesis.model,
                           task_type=task_type, latency_ms=latency_ms)])
        except Exception as exc:  # noqa: BLE001 - the answer is still returned; the failure is reported
            self._report_store_error(exc)
        return conversation_id

    def _report_store_error(self, exc: Exception) -> None:
        from jarvis_tui.core.events import ErrorRaised

        self.orchestrator.bus.publish(ErrorRaised(source="store", message=one_line(str(exc))))

    # ------------------------------------------------------------------ consensus

    async def consensus(self, prompt: str, *, nodes: list[str] | None = None, round_id: str | None = None,
                        on_vote: Callable[[Vote], None] | None = None) -> ConsensusRound:
        """One weighted-consensus round over the ``consensus`` route (or ``nodes``), stored in SQLite."""
        from jarvis_tui.core.consensus import run_consensus

        round_ = await run_consensus(self.orchestrator, prompt, settings=self.settings, nodes=nodes,
                                     round_id=round_id, on_vote=on_vote)
        store = self.orchestrator.store
        if store is not None and store._db is not None:
            from jarvis_tui.core.commander_store import save_consensus_round

            try:
                round_.stored_id = await save_consensus_round(store, round_)
            except Exception as exc:  # noqa: BLE001 - a storage failure must not lose the verdict
                self._report_store_error(exc)
        return round_

    async def synthesize_round(self, round_: ConsensusRound, *,
                               on_delta: Callable[[str], None] | None = None) -> Synthesis | None:
        """The [DETAIL] synthesis of a decided round: by the commander node (streamed) when configured."""
        answered = round_.answered
        if not answered:
            return None
        # The winning cluster's answers first: they are the verdict's sources.
        ordered = sorted(answered, key=lambda v: (v.cluster != round_.winning_cluster, v.arrival or 0))
        contributions = [Contribution(v.node, v.model, v.answer, "vote", None, v.weight) for v in ordered]
        if len(contributions) == 1 or not self.settings.commander_node:
            return None
        synthesis = await synthesize(self.orchestrator, round_.prompt, contributions, settings=self.settings,
                                     round_id=round_.round_id, on_delta=on_delta)
        if not synthesis.streamed:
            return synthesis  # the verdict already is the best-scored answer
        round_.synthesis, round_.synthesis_node = synthesis.text, synthesis.node
        round_.synthesis_model, round_.synthesis_streamed = synthesis.model, True
        store = self.orchestrator.store
        if round_.stored_id is not None and store is not None and store._db is not None:
            from jarvis_tui.core.commander_store import update_round_synthesis

            try:
                await update_round_synthesis(store, round_.stored_id, synthesis.text, synthesis.node)
            except Exception as exc:  # noqa: BLE001
                self._report_store_error(exc)
        return synthesis

    # ------------------------------------------------------------------ benchmark

    async def bench(self, *, nodes: list[str] | None = None, quick: bool = False,
                    levels_dir: str | None = None, report_dir: str | None = None) -> Any:
        from jarvis_tui.core.bench.runner import run_benchmark

        return await run_benchmark(self.orchestrator, settings=self.settings, nodes=nodes, quick=quick,
                                   levels_dir=levels_dir, report_dir=report_dir)


def heuristic_task_types() -> tuple[str, ...]:
    return load_classifier().task_types
