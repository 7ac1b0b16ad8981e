"""The parsed-CSS cache `jarvis` keeps between starts (jarvis_tui/ui/css_cache.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.css.stylesheet import Stylesheet

from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.css_cache import ParsedCssCache, cache_file
from tests.ui.pilot_helpers import wait_for, wait_ready

SIZE = (160, 48)


def computed_styles(app: JarvisApp) -> dict[str, str]:
    """Every node's styles from the stylesheet (component classes included), by its place in the DOM.

    Inline styles are left out: the app sets some from data (the GPU pane shows its empty state when the first
    readings come), and whether that came before this look is a race that says nothing about the CSS.
    """
    found = {}
    for index, node in enumerate(app.screen.walk_children(with_self=True)):
        key = f"{index}:{type(node).__name__}#{node.id}"
        found[key] = node._css_styles.css
        for component, styles in sorted(node._component_styles.items()):
            found[f"{key}>{component}"] = styles.css
    return found


async def start(config: Any, folder: Path) -> tuple[dict[str, str], int, Path | None]:
    app = JarvisApp(config, services=frozenset(), css_cache_dir=folder)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await wait_for(pilot, lambda: app.first_paint_s is not None, what="first frame")
        return computed_styles(app), app._css_cache.preloaded, app._css_cache.path


async def test_a_second_start_reuses_the_parsed_css_and_looks_the_same(cluster, tmp_path):
    config, _ = cluster(count=2)
    folder = tmp_path / "css"
    first, loaded_first, path = await start(config, folder)
    assert loaded_first == 0 and path is not None and path.exists()  # written after the first frame
    written = path.stat().st_mtime_ns
    second, loaded_second, _ = await start(config, folder)
    assert loaded_second >= 5  # jarvis.tcss and the widgets' DEFAULT_CSS the first frame needs
    assert second == first
    assert path.stat().st_mtime_ns == written  # nothing new parsed: not written again
    assert [p.name for p in folder.iterdir()] == [path.name]


async def test_a_damaged_cache_file_is_parsed_over(cluster, tmp_path):
    config, _ = cluster(count=1)
    folder = tmp_path / "css"
    reference, _, path = await start(config, folder)
    assert path is not None
    path.write_bytes(b"not a pickle")
    styles, loaded, _ = await start(config, folder)
    assert loaded == 0 and styles == reference
    assert path.read_bytes() != b"not a pickle"  # rewritten at once


def test_the_file_depends_on_the_theme_variables_and_a_changed_css_text_is_another_key(tmp_path):
    stylesheet = Stylesheet(variables={"primary": "#004578"})
    other = Stylesheet(variables={"primary": "#ff0000"})
    assert cache_file(tmp_path, stylesheet._variables) != cache_file(tmp_path, other._variables)

    stylesheet.add_source("Static { color: $primary; }", read_from=("a.tcss", ""))
    stylesheet.parse()
    cache = ParsedCssCache(tmp_path, stylesheet)
    assert cache.save()

    changed = Stylesheet(variables={"primary": "#004578"})
    cache = ParsedCssCache(tmp_path, changed)
    assert cache.load() == 1
    changed.add_source("Static { color: red; }", read_from=("a.tcss", ""))
    changed.parse()  # the new text is parsed, not taken from the file
    (rule,) = changed.rules
    assert rule.styles.color is not None and rule.styles.color.rgb == (255, 0, 0)
    assert cache.save()  # the new parse is written


def test_after_a_theme_change_nothing_is_written_under_the_old_name(tmp_path):
    stylesheet = Stylesheet(variables={"primary": "#004578"})
    cache = ParsedCssCache(tmp_path, stylesheet)
    stylesheet.set_variables({"primary": "#ff0000"})
    stylesheet.add_source("Static { color: $primary; }", read_from=("a.tcss", ""))
    stylesheet.parse()
    assert not cache.save()
    assert not list(tmp_path.iterdir())
