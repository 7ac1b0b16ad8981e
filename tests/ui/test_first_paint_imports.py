"""The cockpit's first frame: what `jarvis` loads and builds before it, and what it need not draw (docs/cockpit.md).

The cockpit starts as `jarvis --config PATH` does (jarvis_tui.cli.main), in a fresh interpreter, headless; at the
first frame the probe records what was imported and which dataclasses were built, and quits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROBE = """
import dataclasses, json, sys
built = []
_process_class = dataclasses._process_class
def recording(cls, *args):
    built.append(f"{cls.__module__}.{cls.__qualname__}")
    return _process_class(cls, *args)
dataclasses._process_class = recording
import jarvis_tui.ui.app as app_module
from jarvis_tui.ui import launch

class Probe(app_module.JarvisApp):
    def _after_first_paint(self):
        print("PROBE=" + json.dumps({"modules": sorted(sys.modules), "built": built,
                                     "switch_interval": sys.getswitchinterval()}), file=sys.__stdout__)
        self.exit(0)

app_module.JarvisApp = Probe
_run = Probe.run
Probe.run = lambda self, **kwargs: _run(self, headless=True)
sys.stdout.isatty = lambda: True  # the cockpit refuses a pipe; the probe's output is one
from jarvis_tui.cli import main
raise SystemExit(main(["--config", sys.argv[1]]))
"""

# Not needed for the first frame; each cost start-up time there.
NOT_BEFORE_THE_FIRST_FRAME = ("argparse", "gettext", "hashlib", "jarvis_tui.core.orchestrator",
                              "jarvis_tui.core.events", "textual.widgets._markdown")


def first_paint(tmp_path: Path) -> dict[str, Any]:
    config = tmp_path / "config.toml"
    config.write_text('[[nodes]]\nname = "A"\nkind = "openai"\nurl = "http://127.0.0.1:9"\n\n'
                      f'[store]\npath = "{tmp_path / "j.db"}"\n\n[trading]\nleverage = 5\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JARVIS_", "XDG_"))}
    env.update({f"XDG_{kind}_HOME": str(tmp_path / kind.lower()) for kind in ("CONFIG", "DATA", "CACHE", "STATE")})
    done = subprocess.run([sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, env=env,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)
    found = [line for line in done.stdout.splitlines() if line.startswith("PROBE=")]
    assert found, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return json.loads(found[0].removeprefix("PROBE="))  # type: ignore[no-any-return]


def test_the_first_frame_imports_neither_argparse_nor_hashlib_nor_the_core(tmp_path: Path) -> None:
    loaded = set(first_paint(tmp_path)["modules"])
    assert "textual.widgets._data_table" in loaded  # the probe did reach the first frame
    assert sorted(loaded.intersection(NOT_BEFORE_THE_FIRST_FRAME)) == []


def test_a_second_start_with_the_same_config_does_not_import_tomllib(tmp_path: Path) -> None:
    """The parse of an unchanged config comes from the cache folder (config.load_config's parsed_cache)."""
    assert "tomllib" in first_paint(tmp_path)["modules"]
    assert "tomllib" not in first_paint(tmp_path)["modules"]


def test_only_the_settings_are_dataclasses_before_the_first_frame(tmp_path: Path) -> None:
    """Building a frozen dataclass costs ~1.5 ms (Python 3.11 compiles each of its methods): the cockpit's widgets
    and the config's small tables use NamedTuples or plain classes; what dataclasses.replace changes stays."""
    ours = sorted(name for name in first_paint(tmp_path)["built"] if name.startswith("jarvis_tui."))
    assert ours == ["jarvis_tui.config.Config", "jarvis_tui.config.NodeConfig",
                    "jarvis_tui.trading.settings.TradingSettings"]  # the probe's config has a [trading] table


@pytest.mark.parametrize(("size", "zoomed"), [((160, 48), False), ((80, 24), False), ((160, 48), True)])
async def test_the_blank_screen_and_grid_are_covered(cluster, size, zoomed):  # type: ignore[no-untyped-def]
    """CockpitScreen and PaneGrid draw no lines of their own (BLANK): something else must cover every cell."""
    from jarvis_tui.ui.app import CockpitScreen, JarvisApp, PaneGrid
    from tests.ui.pilot_helpers import wait_ready

    config, _nodes = cluster(count=1)
    app = JarvisApp(config, services=frozenset())
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot)
        if zoomed:
            await pilot.press("z")
            await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CockpitScreen) and screen.BLANK and PaneGrid.BLANK
        drawn = [region for widget, (region, _clip) in screen._compositor.visible_widgets.items()
                 if not isinstance(widget, (CockpitScreen, PaneGrid))]
        width, height = size
        bare = [(x, y) for y in range(height) for x in range(width)
                if not any(region.contains(x, y) for region in drawn)]
        assert bare == []


def test_the_first_frame_is_written_without_waiting_for_a_thread_switch(tmp_path: Path) -> None:
    """Textual's writer thread puts frames on the terminal; until the first frame it gets the GIL within 0.5 ms."""
    from jarvis_tui.ui.launch import FIRST_FRAME_SWITCH_INTERVAL_S

    assert first_paint(tmp_path)["switch_interval"] == FIRST_FRAME_SWITCH_INTERVAL_S


async def test_the_switch_interval_is_set_back_after_the_first_frame(cluster):  # type: ignore[no-untyped-def]
    from jarvis_tui.ui.app import JarvisApp
    from tests.ui.pilot_helpers import wait_ready

    config, _nodes = cluster(count=1)
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        app = JarvisApp(config, services=frozenset(), switch_interval_after_first_paint=0.004)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_ready(pilot)  # the first frame came, and the core started (its threads too)
            assert abs(sys.getswitchinterval() - 0.004) < 1e-9
    finally:
        sys.setswitchinterval(before)
