"""`jarvis` with no prompt flag: load the config, run the cockpit, return an exit code.

A config error is one line on stderr and exit code 2, exactly like the headless
faces.  Textual is imported only here, after the config loaded.
"""

from __future__ import annotations

import gc
import sys
from typing import Any


def run_cockpit(args: Any) -> int:
    # No cyclic garbage collection until the first frame: the start-up only builds objects that stay (modules,
    # classes, widgets), and the collector's passes over them (~150 of them, one full) cost ~60 ms of the first
    # paint on the 2-core dev box.  JarvisApp turns it back on right after that frame.
    gc.disable()
    try:
        return _run_cockpit(args)
    finally:
        gc.enable()


def _run_cockpit(args: Any) -> int:
    from jarvis_tui.cli import EXIT_OK, EXIT_USAGE
    from jarvis_tui.config import ConfigError, load_config, xdg_dir
    from jarvis_tui.core.text import one_line

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        sys.stderr.write(f"jarvis: config error: {one_line(str(exc), 400)}\n")
        return EXIT_USAGE
    if not sys.stdout.isatty() and not sys.stdin.isatty():
        sys.stderr.write("jarvis: the cockpit needs a terminal; use `jarvis --once PROMPT` or "
                         "`jarvis --status` when piping (see `jarvis --help`)\n")
        return EXIT_USAGE
    from jarvis_tui.ui.app import JarvisApp

    app = JarvisApp(config, live=bool(getattr(args, "live", False)), enable_gc_after_first_paint=True,
                    css_cache_dir=xdg_dir("CACHE") / "css")
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
