"""`jarvis` with no prompt flag: load the config, run the cockpit, return an exit code.

A config error is one line on stderr and exit code 2, exactly like the headless
faces.  Textual is imported only here, after the config loaded.
"""

from __future__ import annotations

import gc
import sys
from typing import Any


# The interpreter's thread switch interval until the first frame.  Textual hands each frame to a writer thread,
# which then waited for the main thread's next switch (5 ms by default) to put the first frame on the terminal,
# while the main thread went on with the start-up (the first Resize's layout, the widgets mounted after the
# frame).  No other thread runs before the core starts, so a short interval costs nothing until then.
FIRST_FRAME_SWITCH_INTERVAL_S = 0.0005


def run_cockpit(args: Any) -> int:
    # No cyclic garbage collection until the first frame: the start-up only builds objects that stay (modules,
    # classes, widgets), and the collector's passes over them (~150 of them, one full) cost ~60 ms of the first
    # paint on the 2-core dev box.  JarvisApp turns it back on, and the switch interval back, right after that
    # frame.
    gc.disable()
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, FIRST_FRAME_SWITCH_INTERVAL_S))
    try:
        return _run_cockpit(args, switch_interval)
    finally:
        gc.enable()
        sys.setswitchinterval(switch_interval)


def _run_cockpit(args: Any, switch_interval: float) -> int:
    from jarvis_tui.cli import EXIT_OK, EXIT_USAGE
    from jarvis_tui.config import ConfigError, load_config, xdg_dir
    from jarvis_tui.core.text import one_line

    try:
        # The last parsed TOML is kept with its text (config.load_config): an unchanged config skips tomllib.
        config = load_config(getattr(args, "config", None), parsed_cache=xdg_dir("CACHE") / "config.marshal")
    except ConfigError as exc:
        sys.stderr.write(f"jarvis: config error: {one_line(str(exc), 400)}\n")
        return EXIT_USAGE
    if not sys.stdout.isatty() and not sys.stdin.isatty():
        sys.stderr.write("jarvis: the cockpit needs a terminal; use `jarvis --once PROMPT` or "
                         "`jarvis --status` when piping (see `jarvis --help`)\n")
        return EXIT_USAGE
    from jarvis_tui.ui.app import JarvisApp

    app = JarvisApp(config, live=bool(getattr(args, "live", False)), enable_gc_after_first_paint=True,
                    switch_interval_after_first_paint=switch_interval, css_cache_dir=xdg_dir("CACHE") / "css")
    try:
        code = app.run()
    finally:
        _stop_embedded(app)
    return EXIT_OK if code is None else int(code)


def _stop_embedded(app: object) -> None:
    """If the app died before its own shutdown ran, never leave the embedded llama-server running."""
    orchestrator = getattr(app, "orchestrator", None)
    embedded = getattr(orchestrator, "embedded", None)
    if embedded is not None:
        try:
            embedded.stop()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
