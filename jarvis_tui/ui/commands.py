"""The command palette's own commands (Ctrl+P): everything the cockpit can do, searchable.

The app lists its commands (``JarvisApp.palette_commands``); this provider only
matches them against what the user types.  Textual's system commands (theme,
keys, screenshot, quit) stay available next to these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    title: str
    run: Callable[[], object]
    help: str = ""


class JarvisCommands(Provider):
    def _commands(self) -> list[PaletteCommand]:
        app = self.app
        return list(app.palette_commands()) if hasattr(app, "palette_commands") else []

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.title, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.run, help=command.help)
