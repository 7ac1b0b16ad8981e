"""Headless faces over the core: --once, --status, --init-config, and the subcommands.

Everything printed here that came from a node goes through
``neutralize_terminal`` and plain ``sys.stdout.write``: never Rich, never a
markup parser.  Errors are one line on stderr with a documented exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from jarvis_tui.cli import EXIT_INTERRUPTED, EXIT_NO_NODE, EXIT_OK, EXIT_USAGE
from jarvis_tui.config import Config, ConfigError, load_config, write_starter_config
from jarvis_tui.core.text import neutralize_terminal, one_line


def _err(message: str) -> None:
    sys.stderr.write(f"jarvis: {one_line(message, 400)}\n")


def _emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def load_config_or_exit(path: str | None) -> Config | int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        _err(f"config error: {exc}")
        return EXIT_USAGE
    for warning in config.warnings:
        _err(f"config warning: {warning}")
    return config


def run(args: argparse.Namespace) -> int:
    if args.init_config:
        try:
            target = write_starter_config(args.config)
        except ConfigError as exc:
            _err(f"config error: {exc}")
            return EXIT_USAGE
        sys.stdout.write(f"wrote {target}\n")
        return EXIT_OK
    if args.once is not None or args.status:
        _import_httpx_without_its_cli()
    config = load_config_or_exit(args.config)
    if isinstance(config, int):
        return config
    if args.voice_test:
        from jarvis_tui.voice.headless import run_voice_test

        return run_voice_test(args.voice_test, args.json, config)
    if args.status:
        return _run_async(status(config, as_json=args.json))
    prompt = args.once
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt or not prompt.strip():
        _err("error: the prompt is empty (pass text to --once, or '-' with text on stdin)")
        return EXIT_USAGE
    return _run_async(once(config, prompt, node=args.node, as_json=args.json, consensus=args.consensus,
                           verify=args.verify))


def _import_httpx_without_its_cli() -> None:
    """Import httpx without ``httpx._main``, its command-line client.

    httpx imports that module whenever rich and click are installed (they are: the
    cockpit needs rich), which costs ~60 ms of every headless call for a CLI jarvis
    never runs.  httpx guards the import with ``except ImportError`` and falls back
    to a stub ``httpx.main``; a ``None`` in ``sys.modules`` takes that path.  Should
    a future httpx need the module, the partial import is undone and httpx is
    imported whole.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    except ImportError:
        for name in [m for m in sys.modules if m == "httpx" or m.startswith("httpx.")]:
            del sys.modules[name]
    finally:
        if "httpx._main" in sys.modules and sys.modules["httpx._main"] is None:
            del sys.modules["httpx._main"]


def _run_async(coro: Any) -> int:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED


async def _start(config: Config) -> Any:
    """An orchestrator, started; or an exit code when no node can even be set up."""
    from jarvis_tui.core.orchestrator import Orchestrator
    from jarvis_tui.core.store import StoreError

    orchestrator = Orchestrator(config)
    try:
        await orchestrator.start()
    except StoreError as exc:
        await orchestrator.close()
        _err(f"database error: {exc}")
        return EXIT_USAGE
    except Exception as exc:
        # Only a config without nodes reaches the embedded node; a configured cluster
        # never imports (or pays for) that module.
        embedded = sys.modules.get("jarvis_tui.nodes.embedded")
        if embedded is None or not isinstance(exc, embedded.EmbeddedUnavailable):
            raise
        await orchestrator.close()
        _err(f"no node configured or found on the default local ports, and the embedded node cannot start: {exc}")
        return EXIT_NO_NODE
    return orchestrator


async def once(config: Config, prompt: str, *, node: str | None, as_json: bool, consensus: bool = False,
               verify: bool = False) -> int:
    from jarvis_tui.core.orchestrator import NoNodeAvailable

    if node is not None and config.nodes and node not in {n.name for n in config.nodes}:
        _err(f"error: unknown node '{node}'; known nodes: {', '.join(n.name for n in config.nodes)}")
        return EXIT_USAGE
    orchestrator = await _start(config)
    if isinstance(orchestrator, int):
        return orchestrator
    try:
        if node is not None and node not in orchestrator.nodes:
            _err(f"error: unknown node '{node}'; known nodes: {', '.join(orchestrator.nodes)}")
            return EXIT_USAGE
        await orchestrator.prime_thermal()
        if consensus:
            from jarvis_tui.core.commander_faces import run_consensus_face

            return await run_consensus_face(orchestrator, prompt, as_json=as_json)
        from jarvis_tui.core.commander_faces import ask_commanded

        try:
            # The whole pipeline: classification (and the classifier node when configured), TaskUnits
            # (a code task is a coder and a reviewer), per-task-type verification, synthesis.
            result = await ask_commanded(orchestrator, prompt, node=node, verify=True if verify else None)
        except NoNodeAvailable as exc:
            if as_json:
                _emit_json({"answer": None, "node": None, "model": None, "task_type": exc.task_type,
                            "error": str(exc), "attempts": [a.to_dict() for a in exc.attempts]})
            _err(str(exc))
            return EXIT_NO_NODE
        if as_json:
            _emit_json(result.to_json())
        else:
            answer = neutralize_terminal(result.answer).rstrip("\n")
            sys.stdout.write(f"{answer}\n[{neutralize_terminal(result.node)}/{neutralize_terminal(result.model)}]\n")
        return EXIT_OK
    finally:
        await orchestrator.close()


STATUS_COLUMNS = ("node", "kind", "url", "model", "reachable", "latency ms", "loaded models", "error")


async def status(config: Config, *, as_json: bool) -> int:
    orchestrator = await _start(config)
    if isinstance(orchestrator, int):
        return orchestrator
    try:
        results, gpus = await asyncio.gather(orchestrator.health_check(), _gpu_rows(orchestrator))
        rows = []
        for name, result in results.items():
            cfg = orchestrator.nodes[name].config
            rows.append({
                "node": name, "kind": cfg.kind, "url": cfg.url, "model": cfg.model, "reachable": result.ok,
                "latency_ms": round(result.latency_ms, 1), "models": result.models,
                "error": result.error or None, "outcome": str(result.outcome),
            })
        healthy = sum(1 for r in rows if r["reachable"])
        if as_json:
            _emit_json({"nodes": rows, "healthy": healthy, "total": len(rows), "gpus": gpus,
                        "discovered": orchestrator.config.discovered})
        else:
            _print_status_table(rows)
            _print_gpu_rows(gpus)
        return EXIT_OK if healthy else EXIT_NO_NODE
    finally:
        await orchestrator.close()


async def _gpu_rows(orchestrator: Any) -> list[dict[str, Any]]:
    from jarvis_tui.gpu.status import gpu_rows_for_status

    monitor = orchestrator.create_gpu_monitor()
    await monitor.poll_once()
    return gpu_rows_for_status(monitor)


def _print_status_table(rows: list[dict[str, Any]]) -> None:
    table = [STATUS_COLUMNS]
    for r in rows:
        models = ", ".join(r["models"][:4]) + (f" (+{len(r['models']) - 4})" if len(r["models"]) > 4 else "")
        table.append((r["node"], r["kind"], r["url"], r["model"] or "-", "yes" if r["reachable"] else "no",
                      f"{r['latency_ms']:.0f}", models or "-", r["error"] or ""))
    _print_table(table)


def _print_table(table: list[tuple[str, ...]]) -> None:
    cells = [[one_line(str(c), 120 if i == len(row) - 1 else 60) for i, c in enumerate(row)] for row in table]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for row in cells:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _print_gpu_rows(gpus: list[dict[str, Any]]) -> None:
    from jarvis_tui.gpu.status import format_gpu_row

    if gpus:
        sys.stdout.write("\nGPUs\n")
        for row in gpus:
            sys.stdout.write(one_line(format_gpu_row(row), 300) + "\n")


def run_trade(argv: list[str]) -> int:
    from jarvis_tui.trading.cli import main as trade_main

    return trade_main(argv)


def run_bench(argv: list[str]) -> int:
    from jarvis_tui.core.commander_faces import run_bench_face

    return run_bench_face(argv)
