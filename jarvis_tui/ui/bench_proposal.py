"""Applying a benchmark's weight and routing proposal from the cockpit.

The benchmark worker posts ``ProposalReady``; the app shows the proposal in
``ProposalScreen`` (Apply / Dismiss).  Apply writes the config file through
``core.bench.apply.apply_proposal`` (a backup ``<config>.bak-<timestamp>`` first,
the original put back if the result does not load), in a worker thread, which
posts ``ProposalApplied`` or ``ProposalFailed``; only then does the app change the
live orchestrator with ``apply_live``, so the running cockpit and the file agree.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message


@dataclass
class ProposalReady(Message):
    """A benchmark finished in the cockpit; ``report.proposal`` may change weights and routes."""

    report: Any  # core.bench.runner.BenchReport


@dataclass
class ProposalApplied(Message):
    proposal: Any  # core.bench.proposal.Proposal
    config_path: Path
    backup: Path


@dataclass
class ProposalFailed(Message):
    message: str


def cannot_apply_reason(config: Any) -> str | None:
    """Why this config cannot take the proposal (one sentence), or None when it can."""
    path = getattr(config, "path", None)
    if path is None:
        return ("This cockpit runs without a config file, so there is nothing to write the proposal to. "
                "Create one with `jarvis --init-config`, then run the benchmark again.")
    if getattr(config, "discovered", False):
        return (f"The nodes were discovered on the default local ports, not read from {path}, so the file has no "
                "node to reweight. Add them to the config file, then run the benchmark again.")
    if not Path(path).is_file():
        return f"The config file {path} does not exist (any more), so the proposal cannot be written to it."
    return None


async def write_proposal(config_path: Path, proposal: Any) -> ProposalApplied | ProposalFailed:
    """Write the proposal into the file (off the event loop); the message to post."""
    from jarvis_tui.config import ConfigError
    from jarvis_tui.core.bench.apply import apply_proposal

    try:
        backup = await asyncio.to_thread(apply_proposal, config_path, proposal)
    except ConfigError as exc:
        return ProposalFailed(f"could not apply the proposal, the config is unchanged: {exc}")
    except OSError as exc:
        return ProposalFailed(f"could not write {config_path}: {exc.strerror or exc}")
    return ProposalApplied(proposal, Path(config_path), backup)


def apply_live(orchestrator: Any, proposal: Any) -> tuple[int, int]:
    """Give the running orchestrator the proposal's weights and routes; (weights, routes) changed.

    Routing reads ``orchestrator.config.routing`` and consensus reads each node's
    ``NodeState.config.weight`` at every request, so replacing those frozen
    configs is enough: the next request uses the new values.
    """
    weights = {w.node: w.proposed for w in proposal.weights if w.changed}
    routes = {r.task_type: tuple(r.proposed) for r in proposal.routes if r.changed}
    changed_weights = 0
    for name, weight in weights.items():
        state = orchestrator.nodes.get(name)
        if state is not None:
            state.config = dataclasses.replace(state.config, weight=weight)
            changed_weights += 1
    config = orchestrator.config
    nodes = tuple(dataclasses.replace(n, weight=weights[n.name]) if n.name in weights else n for n in config.nodes)
    routing = dict(config.routing)
    routing.update({task: names for task, names in routes.items() if task in routing})
    orchestrator.config = dataclasses.replace(config, nodes=nodes, routing=routing)
    return changed_weights, sum(1 for task in routes if task in routing)
