"""A disk cache of Textual's parsed CSS, so `jarvis` does not parse the same stylesheets at every start.

Textual parses every CSS source (styles/jarvis.tcss, each widget class's DEFAULT_CSS) once per process and keeps
the result in ``Stylesheet._parse_cache``, keyed by the CSS text, where it came from and its tie-breaker and
scope; a theme change empties it (``Stylesheet.set_variables``).  Parsing is the largest single step of the
cockpit's start-up that a minimal Textual app does not share: ~25 ms of the first paint on the dev box for the
sources the first frame needs (docs/cockpit.md).  This module fills that same in-process cache from a file
written by an earlier start, the way Python's bytecode cache spares compiling:

- the file is named after everything the parsed rules depend on besides those keys: the theme's CSS variables
  (substituted while parsing), Textual's parser and style classes (their files' sizes and mtimes), Python's
  version and this cache's own format; any change of those names another file, and a changed CSS text is
  another key, parsed as before;
- it is written once, after the first frame, when that start parsed something the file did not hold;
- a missing, unreadable or stale file only means parsing as if there were none.

The file is a pickle in the user's own cache folder (``$XDG_CACHE_HOME/jarvis-tui/css``), trusted as that
folder's other files are.  Only `jarvis` itself uses it (``ui/launch.py``); tests and embedders parse as usual.
"""

from __future__ import annotations

import os
import pickle
import sys
import zlib
from functools import cache
from pathlib import Path
from typing import Any

FORMAT = 1


def cache_file(folder: Path, variables: dict[str, str]) -> Path:
    ident = repr((FORMAT, sys.version, _textual_fingerprint(), sorted(variables.items()))).encode()
    # Two checksums make a 64-bit name, which tells the few files a user has apart as well as a cryptographic
    # hash would; zlib is loaded already (Textual imports it), hashlib cost ~2 ms of the first paint.
    return folder / f"parsed-{zlib.crc32(ident):08x}{zlib.adler32(ident):08x}.pickle"


@cache  # Textual's files do not change under a running process: stat them once, not at load and again at save
def _textual_fingerprint() -> tuple[tuple[str, int, int], ...]:
    """Textual's parser and the modules of the classes it builds, as their paths, sizes and mtimes.

    Like the bytecode cache's check of a source's size and mtime: an upgrade rewrites them.  (Textual's
    ``__version__`` would load importlib.metadata and scan sys.path: ~21 ms before the first frame.)
    """
    import textual

    root = os.path.dirname(textual.__file__)
    found = []
    for folder, names in ((root, ("__init__.py", "color.py", "geometry.py")), (os.path.join(root, "css"), None),
                          (os.path.join(root, "layouts"), None)):
        try:
            entries = sorted(names or (name for name in os.listdir(folder) if name.endswith(".py")))
        except OSError:
            continue
        for name in entries:
            path = os.path.join(folder, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            found.append((path, stat.st_size, stat.st_mtime_ns))
    return tuple(found)


class ParsedCssCache:
    """Loads into, and later saves from, one ``Stylesheet``'s parse cache."""

    def __init__(self, folder: Path, stylesheet: Any) -> None:
        self.folder = folder
        self.stylesheet = stylesheet
        self.path = cache_file(folder, stylesheet._variables)
        self.loaded: set[tuple[Any, ...]] = set()  # keys the file holds (after a save: what it wrote)
        self.preloaded = 0  # sources this start took from the file

    def load(self) -> int:
        """Put the file's parsed sources into the stylesheet's parse cache; how many."""
        try:
            entries = pickle.loads(self.path.read_bytes())
        except FileNotFoundError:
            return 0
        except Exception:  # noqa: BLE001 - a damaged or foreign file is a cache miss, never an error
            return 0
        if not isinstance(entries, dict):
            return 0
        parse_cache = self.stylesheet._parse_cache
        for key, rules in entries.items():
            parse_cache[key] = rules
        self.loaded = set(entries)
        self.preloaded = len(entries)
        return len(entries)

    def save(self) -> bool:
        """Write what the stylesheet has parsed, if the file lacked any of it (False: nothing to write).

        Only what is cached under the variables the file is named after: after a theme change the stylesheet
        holds other parses, and they are left out.
        """
        if cache_file(self.folder, self.stylesheet._variables) != self.path:
            return False
        parse_cache = self.stylesheet._parse_cache
        entries = {key: parse_cache[key] for key in list(parse_cache.keys())}
        if not entries or set(entries) <= self.loaded:
            return False
        try:
            data = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, self.path)  # another jarvis reading it sees the old file or the new one
            for old in self.folder.glob("parsed-*.pickle"):  # other variables or versions: not read again
                if old != self.path:
                    old.unlink(missing_ok=True)
        except Exception:  # noqa: BLE001 - a cache that cannot be written is only a slower next start
            return False
        self.loaded = set(entries)
        return True
