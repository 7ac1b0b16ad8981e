"""Key latency under load: keypress -> frame on the wire while five loopback nodes stream 200 tokens/s each.

The cockpit runs in-process at 160x48 on the real orchestrator with its
production services (commander, GPU monitor, paper trading; voice stays off as
in a default config); the five loopback nodes run in a child process, so the
CPU measured is the cockpit's alone.  Load: the chat streams one long answer
(Markdown streaming) while four more requests stream on the bus.

What "screen" means here: Pilot's headless driver composes every frame but
skips turning it into terminal output.  This script puts that step back: every
frame (load frames too, so the CPU figure includes it) is serialised with
``render_segments`` exactly as ``App._display`` does for a real terminal, and a
sample ends when the first frame showing the switched pane has been serialised,
i.e. when the real driver would hand it to its writer thread.  Not included:
that thread's write() to the tty and the terminal's own drawing.  The key is
posted as the ``Key`` event the driver's input thread would post.
CPU is this process's user+system time over 5 s of load without keys, as a
share of one core.  Targets: p95 <= 50 ms, CPU <= 60% of one core.

    .venv/bin/python bench/key_latency.py [--keys 60] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from cockpit_rig import LoopbackCluster, temp_folder  # noqa: E402

from jarvis_tui.config import load_config  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(config_path: Path, keys: int, chat: bool = True, frame_s: float | None = None
                  ) -> tuple[list[float], float, int, int]:
    from textual import events

    from jarvis_tui.nodes.base import ChatMessage
    from jarvis_tui.ui.app import JarvisApp

    extra = {} if frame_s is None else {"frame_s": frame_s}
    services = frozenset({"commander", "gpu", "trading"})  # production set; voice is off in a default config
    # The garbage collector as `jarvis` runs it (ui/launch.py): paused until the first frame, then the start-up
    # heap frozen.
    gc.disable()
    app = JarvisApp(load_config(str(config_path)), services=services, enable_gc_after_first_paint=True, **extra)
    waiting: dict[str, object] = {}
    original_display = app._display
    frames = {"count": 0, "bytes": 0}

    def display(screen, renderable):  # type: ignore[no-untyped-def]
        original_display(screen, renderable)
        if renderable is None:
            return
        # What App._display does for a real terminal (headless mode skips it): frame -> escape sequences.
        if hasattr(renderable, "render_segments"):
            terminal = renderable.render_segments(app.console)
        else:
            terminal = app.console._render_buffer(app.console.render(renderable))
        frames["count"] += 1
        frames["bytes"] += len(terminal)
        # The first frame serialised after the key's action ran is the one that shows it.  Later frames must not
        # overwrite its time: the measuring task resumes a few loop turns after the event is set, and a frame
        # drawn meanwhile would add its own duration to the sample.
        if waiting and "frame" not in waiting and app.active_pane == waiting["pane"]:
            waiting["frame"] = time.perf_counter()
            waiting["event"].set()  # type: ignore[attr-defined]

    app._display = display  # type: ignore[method-assign]
    latencies: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        while app.services is None:
            await asyncio.sleep(0.05)
        await pilot.pause(0.5)
        orchestrator = app.orchestrator
        names = list(orchestrator.nodes)
        if chat:
            app.chat.input.load_text("stream a long answer")
            await pilot.press("enter")
            names = names[1:]
        others = [asyncio.create_task(orchestrator.dispatch(name, [ChatMessage("user", "go")])) for name in names]
        while chat and (app.chat.pending is None or not app.chat.pending.streamed):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        # CPU of the load alone (streams rendering, no keys), then the key samples.
        cpu_start, wall_start = cpu_seconds(), time.perf_counter()
        await asyncio.sleep(5.0)
        cpu = (cpu_seconds() - cpu_start) / (time.perf_counter() - wall_start)
        order = [("2", "nodes"), ("3", "gpu"), ("4", "consensus"), ("5", "positions")]
        for i in range(keys):
            key, pane = order[i % len(order)]
            app.set_focus(None)  # number keys are commands outside the chat input
            await asyncio.sleep(0.1)
            done = asyncio.Event()
            started = time.perf_counter()
            waiting.update(pane=pane, event=done)
            app.post_message(events.Key(key, key))
            await asyncio.wait_for(done.wait(), 5)
            latencies.append(waiting["frame"] - started)  # type: ignore[operator]
            waiting.clear()
            await asyncio.sleep(0.1)
        streaming = sum(1 for t in others if not t.done())
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        batches = app.pumps[0].batches
        await app.shutdown()
    return latencies, cpu, streaming, batches


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=60)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--frame-ms", type=float, default=None, help="bus coalescing interval (default: the app's)")
    parser.add_argument("--no-chat", action="store_true",
                        help="all five streams on the bus only (no Markdown rendering in the chat)")
    args = parser.parse_args()
    folder = temp_folder()
    # enough tokens that every node streams for the whole measurement
    cluster = LoopbackCluster(tokens_per_s=args.rate, tokens=int(args.rate * (args.keys * 0.4 + 20)))
    try:
        from cockpit_rig import write_config

        config = write_config(cluster.urls, folder)
        latencies, cpu, streaming, batches = asyncio.run(measure(config, args.keys, chat=not args.no_chat,
                                                                  frame_s=args.frame_ms / 1000 if args.frame_ms else None))
    finally:
        cluster.close()
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)] * 1000
    print(f"key -> frame under load (5 nodes x {args.rate:g} tok/s, {streaming} side streams still running "
          f"at the end): p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {ordered[-1] * 1000:.1f} ms over {len(ordered)} keys; "
          f"cockpit CPU while streaming (5 s, no keys) {cpu * 100:.0f}% of one core (targets: p95 <= 50 ms, CPU <= 60%)")
    return 0 if p95 <= 50 and cpu <= 0.6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
