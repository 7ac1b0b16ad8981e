"""Headless faces of the commander pipeline: ``--once --consensus``, ``--once --verify``, ``jarvis bench``.

Node output is untrusted: it goes through ``neutralize_terminal`` and plain
writes, never a markup parser.  Errors are one line on stderr with the
documented exit codes (0 ok, 2 usage/config, 3 no node could answer, 130
interrupted).  Progress goes to stderr so ``--json`` stdout stays one object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from jarvis_tui.cli import EXIT_INTERRUPTED, EXIT_NO_NODE, EXIT_OK, EXIT_USAGE
from jarvis_tui.core.text import neutralize_terminal, one_line


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _err(message: str) -> None:
    sys.stderr.write(f"jarvis: {one_line(message, 400)}\n")


def _safe(text: str | None) -> str:
    return neutralize_terminal(text or "")


# ---------------------------------------------------------------- --once --verify


async def ask_commanded(orchestrator: Any, prompt: str, *, node: str | None = None, verify: bool | None = None,
                        on_delta: Any = None) -> Any:
    """``--once`` through the whole pipeline (classifier node, TaskUnits, per-task-type verify)."""
    from jarvis_tui.core.commander import Commander

    return await Commander(orchestrator).ask(prompt, node=node, verify=verify, on_delta=on_delta)


# ---------------------------------------------------------------- --once --consensus


def consensus_text(round_: Any) -> str:
    """The [VERDICT] [CONFIANCE] [SOURCES] [DESACCORDS] blocks ([DETAIL] is written separately)."""
    from jarvis_tui.core.synthesis import attribution

    lines = ["[VERDICT]"]
    if round_.verdict is None:
        lines.append("(aucune réponse)")
    else:
        lines.append(_safe(round_.verdict).rstrip("\n"))
        lines.append(_safe(attribution(round_.verdict_node or "", round_.verdict_model or "")))
    lines.append("[CONFIANCE]")
    flags = f"  {' | '.join(round_.flags)}" if round_.flags else ""
    lines.append(f"{round_.confidence:.2f}{flags}")
    lines.append("[SOURCES]")
    for vote in round_.votes:
        latency = "-" if vote.latency_ms is None else f"{vote.latency_ms:.0f} ms"
        cluster = "" if vote.cluster is None else f"  groupe {vote.cluster + 1}"
        why = f"  ({one_line(vote.error, 100)})" if vote.error and vote.status != "answered" else ""
        lines.append(f"{_safe(attribution(vote.node, vote.model))}  poids {vote.weight:g}  {vote.status}  "
                     f"{latency}{cluster}{why}")
    lines.append("[DESACCORDS]")
    if round_.disagreements:
        lines.extend(_safe(d.line()) for d in round_.disagreements)
    else:
        lines.append("(aucun)")
    return "\n".join(lines) + "\n"


def detail_text(round_: Any) -> str:
    from jarvis_tui.core.synthesis import attribution

    parts = []
    for vote in sorted(round_.answered, key=lambda v: (v.cluster != round_.winning_cluster, v.arrival or 0)):
        parts.append(f"{_safe(attribution(vote.node, vote.model))}\n{_safe(vote.answer).strip()}")
    return "\n\n".join(parts) + "\n" if parts else "(aucune réponse)\n"


async def run_consensus_face(orchestrator: Any, prompt: str, *, as_json: bool) -> int:
    from jarvis_tui.core.commander import Commander

    commander = Commander(orchestrator)
    progress = sys.stderr.isatty() and not as_json

    def on_vote(vote: Any) -> None:
        if progress:
            latency = "" if vote.latency_ms is None else f" {vote.latency_ms / 1000:.1f}s"
            sys.stderr.write(f"  {one_line(vote.node, 30)}: {vote.status}{latency}\n")

    round_ = await commander.consensus(prompt, on_vote=on_vote)
    if as_json:
        await commander.synthesize_round(round_)
        payload = {"task_type": "consensus", **round_.to_json()}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    else:
        _out(consensus_text(round_))
        _out("[DETAIL]\n")
        streamed: list[str] = []

        def on_delta(delta: str) -> None:
            streamed.append(delta)
            _out(_safe(delta))

        synthesis = None
        if round_.verdict is not None:
            synthesis = await commander.synthesize_round(round_, on_delta=on_delta)
        if synthesis is not None and synthesis.streamed:
            _out(("" if "".join(streamed).endswith("\n") else "\n")
                 + _safe(f"[{synthesis.node}/{synthesis.model}]") + "\n")
        else:
            if streamed:
                _out("\n")
            _out(detail_text(round_))
    if round_.verdict is None:
        _err("no node could answer the consensus round: "
             + "; ".join(f"{v.node} {v.status} ({v.error})" for v in round_.votes))
        return EXIT_NO_NODE
    return EXIT_OK


# ---------------------------------------------------------------- jarvis bench


def bench_parser() -> argparse.ArgumentParser:
    from jarvis_tui.cli import OneLineParser

    parser = OneLineParser(prog="jarvis bench", description="Run the 10-level benchmark on every node in parallel.")
    parser.add_argument("--quick", action="store_true", help="only the quick levels (1, 2, 6, 8)")
    parser.add_argument("--nodes", metavar="A,B", help="only these nodes (default: every enabled node)")
    parser.add_argument("--apply", action="store_true", help="write the proposed weights and routes to the config")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $JARVIS_CONFIG, then XDG)")
    parser.add_argument("--levels", metavar="DIR", help=argparse.SUPPRESS)  # tests: an alternative level set
    parser.add_argument("--report-dir", metavar="DIR", help=argparse.SUPPRESS)
    return parser


def run_bench_face(argv: list[str]) -> int:
    try:
        args = bench_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    from jarvis_tui.headless import load_config_or_exit

    config = load_config_or_exit(args.config)
    if isinstance(config, int):
        return config
    nodes = [n.strip() for n in args.nodes.split(",") if n.strip()] if args.nodes else None
    if args.nodes is not None and not nodes:
        _err("error: --nodes needs at least one node name, e.g. --nodes M2,OL1")
        return EXIT_USAGE
    if args.apply and config.path is None:
        _err("error: --apply needs a config file to write to (pass --config PATH or create one with "
             "`jarvis --init-config`)")
        return EXIT_USAGE
    if nodes and config.nodes:
        unknown = [n for n in nodes if n not in {c.name for c in config.nodes}]
        if unknown:
            _err(f"error: unknown node(s) {', '.join(unknown)}; known nodes: "
                 f"{', '.join(c.name for c in config.nodes)}")
            return EXIT_USAGE
    try:
        return asyncio.run(_bench(config, args, nodes))
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED


class ProgressBar:
    """One stderr line per node, redrawn in place on a terminal; plain lines otherwise."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.state: dict[str, tuple[int, int, float]] = {}
        self.drawn = 0

    def update(self, event: Any) -> None:
        done, total, points = self.state.get(event.node, (0, event.total, 0.0))
        self.state[event.node] = (event.done, event.total, points + event.points)
        if not self.tty:
            latency = "" if event.latency_ms is None else f" {event.latency_ms / 1000:.1f}s"
            self.stream.write(f"bench {one_line(event.node, 20)} level {event.level}: {event.status} "
                              f"{event.points:g}/5{latency} [{event.done}/{event.total}]\n")
            self.stream.flush()
            return
        if self.drawn:
            self.stream.write(f"\x1b[{self.drawn}F")
        for node, (done, total, points) in self.state.items():
            width = 20
            filled = int(width * done / total) if total else width
            self.stream.write(f"\x1b[2K{one_line(node, 12):<12} [{'#' * filled}{'.' * (width - filled)}] "
                              f"{done}/{total}  {points:.1f} pts\n")
        self.drawn = len(self.state)
        self.stream.flush()


async def _bench(config: Any, args: argparse.Namespace, nodes: list[str] | None) -> int:
    from jarvis_tui.core.bench.levels import LevelError
    from jarvis_tui.core.commander import Commander
    from jarvis_tui.core.commander_events import BenchProgress
    from jarvis_tui.headless import _start

    orchestrator = await _start(config)
    if isinstance(orchestrator, int):
        return orchestrator
    bar = ProgressBar()
    subscription = orchestrator.bus.subscribe(BenchProgress)

    async def draw() -> None:
        async for event in subscription:
            bar.update(event)

    drawer = asyncio.create_task(draw())
    try:
        try:
            report = await Commander(orchestrator).bench(nodes=nodes, quick=args.quick, levels_dir=args.levels,
                                                         report_dir=args.report_dir)
        except (ValueError, LevelError) as exc:
            _err(f"error: {exc}")
            return EXIT_USAGE
        finally:
            subscription.close()
            await drawer
        backup = None
        apply_error = None
        if args.apply and report.proposal is not None and report.proposal.has_changes:
            from jarvis_tui.config import ConfigError
            from jarvis_tui.core.bench.apply import apply_proposal

            try:
                backup = apply_proposal(config.path, report.proposal)
            except ConfigError as exc:
                apply_error = str(exc)
        if args.json:
            payload = report.to_json()
            payload["applied"] = backup is not None
            payload["backup_path"] = str(backup) if backup else None
            payload["apply_error"] = apply_error
            sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        else:
            _out(bench_text(report, config, applied=backup, apply_requested=args.apply))
        if apply_error:
            _err(f"config error: could not apply the proposal, the config is unchanged: {apply_error}")
            return EXIT_USAGE
        return EXIT_OK if report.any_answer else EXIT_NO_NODE
    finally:
        await orchestrator.close()


def bench_text(report: Any, config: Any, *, applied: Any = None, apply_requested: bool = False) -> str:
    rows = [("node", "score %", "failed levels", "mean latency", "timeouts", "weight now", "proposed")]
    proposed = {w.node: w for w in (report.proposal.weights if report.proposal else [])}
    for summary in report.summaries().values():
        change = proposed.get(summary.node)
        rows.append((summary.node, f"{summary.score_pct:.0f}",
                     ",".join(map(str, summary.failed_levels)) or "-",
                     "-" if summary.mean_latency_s is None else f"{summary.mean_latency_s:.1f} s",
                     str(summary.timeouts),
                     "-" if change is None else f"{change.current:g}",
                     "-" if change is None else (f"{change.proposed:g}" + (" *" if change.changed else ""))))
    cells = [[one_line(str(c), 40) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    changed_routes = [r for r in (report.proposal.routes if report.proposal else []) if r.changed]
    if changed_routes:
        lines.append("")
        lines.append("routing (now -> proposed):")
        for route in changed_routes:
            lines.append(f"  {one_line(route.task_type, 30)}: {', '.join(route.current)} -> "
                         f"{', '.join(route.proposed)}")
    lines.append("")
    if report.report_path:
        lines.append(f"report: {report.report_path}")
    if applied is not None:
        lines.append(f"applied to {config.path} (backup: {applied})")
    elif report.proposal is not None and report.proposal.has_changes:
        if not apply_requested:
            lines.append(f"run again with --apply to write the changes marked * to {config.path or 'the config'}")
    else:
        lines.append("no change to propose")
    return "\n".join(lines) + "\n"
