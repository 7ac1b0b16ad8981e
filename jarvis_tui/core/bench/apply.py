"""Write an accepted proposal into the config file, keeping everything else.

Only two kinds of line change: a node's ``weight = X`` inside its ``[[nodes]]``
block (added after its ``name`` line when it had none) and a route's
``task = [...]`` line in ``[routing]`` (a multi-line array is replaced by one
line).  Comments at the end of those lines, every other line, blank lines and
the order of everything are kept.  The original is copied to
``<config>.bak-<timestamp>`` first, the new text is written atomically, and it
must load as a valid config - otherwise the original is put back and
``ConfigError`` is raised.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

HEADER = re.compile(r"^\s*\[(\[)?\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")
KEY = re.compile(r"^(\s*)([A-Za-z0-9_\-]+|\"[^\"]*\")(\s*=\s*)(.*)$")


def _split_comment(value: str) -> tuple[str, str]:
    """(value, ' # comment') for a one-line TOML value, aware of strings."""
    in_string: str | None = None
    for index, ch in enumerate(value):
        if in_string:
            if ch == in_string:
                in_string = None
        elif ch in "\"'":
            in_string = ch
        elif ch == "#":
            head = value[:index]
            return head.rstrip(), value[len(head.rstrip()):]
    return value.rstrip(), ""


def _toml_list(names: list[str]) -> str:
    return "[" + ", ".join('"' + n.replace("\\", "\\\\").replace('"', '\\"') + '"' for n in names) + "]"


def _format_weight(weight: float) -> str:
    return f"{weight:.1f}"


def _rebuild(line: str, value: str) -> str:
    """``line`` with its value replaced; indentation, spacing and end-of-line comment kept."""
    body = line.rstrip("\r\n")
    newline = line[len(body):] or "\n"
    indent, name, sep, rest = KEY.match(body).groups()  # type: ignore[union-attr]
    _old, comment = _split_comment(rest)
    return f"{indent}{name}{sep}{value}{comment}{newline}"


def rewrite_config_text(text: str, weights: dict[str, float], routes: dict[str, list[str]]) -> str:
    """The config text with the given node weights and routes changed, nothing else."""
    lines = text.splitlines(keepends=True)
    # pass 1: where things are
    table, in_node = "", False
    blocks: list[dict[str, Any]] = []  # per [[nodes]]: name, name line, weight line
    route_spans: dict[str, tuple[int, int]] = {}  # task -> (first line, last line)
    index = 0
    while index < len(lines):
        body = lines[index].rstrip("\r\n")
        header = HEADER.match(body)
        if header:
            table = header.group(2)
            in_node = bool(header.group(1)) and table == "nodes"
            if in_node:
                blocks.append({"name": None, "name_at": None, "weight_at": None})
            index += 1
            continue
        key = KEY.match(body)
        if key and in_node:
            name = key.group(2)
            value, _comment = _split_comment(key.group(4))
            if name == "name":
                blocks[-1]["name"], blocks[-1]["name_at"] = value.strip().strip("\"'"), index
            elif name == "weight":
                blocks[-1]["weight_at"] = index
        elif key and table == "routing":
            value, _comment = _split_comment(key.group(4))
            last = index
            if value.startswith("[") and "]" not in value:
                while last + 1 < len(lines) and "]" not in _split_comment(lines[last + 1])[0]:
                    last += 1
                last += 1
            route_spans[key.group(2).strip('"')] = (index, min(last, len(lines) - 1))
            index = last
        index += 1
    # pass 2: the edits
    replaced: dict[int, str] = {}
    dropped: set[int] = set()
    added_after: dict[int, str] = {}
    for block in blocks:
        name = block["name"]
        if name not in weights:
            continue
        if block["weight_at"] is not None:
            replaced[block["weight_at"]] = _rebuild(lines[block["weight_at"]], _format_weight(weights[name]))
        elif block["name_at"] is not None:
            indent = re.match(r"\s*", lines[block["name_at"]]).group(0)  # type: ignore[union-attr]
            added_after[block["name_at"]] = f"{indent}weight = {_format_weight(weights[name])}\n"
    for task, (first, last) in route_spans.items():
        if task in routes:
            replaced[first] = _rebuild(lines[first], _toml_list(routes[task]))
            dropped.update(range(first + 1, last + 1))
    out = []
    for number, line in enumerate(lines):
        if number in dropped:
            continue
        out.append(replaced.get(number, line))
        if number in added_after:
            if not out[-1].endswith("\n"):
                out[-1] += "\n"
            out.append(added_after[number])
    return "".join(out)


def apply_proposal(config_path: str | Path, proposal: Any) -> Path:
    """Rewrite weights and routes in place; returns the backup's path.  Raises ConfigError if the result is bad."""
    from jarvis_tui.config import ConfigError, load_config

    path = Path(config_path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(path, f"cannot read the config to apply the proposal: {exc.strerror or exc}") from None
    weights = {w.node: w.proposed for w in proposal.weights if w.changed}
    routes = {r.task_type: r.proposed for r in proposal.routes if r.changed}
    new_text = rewrite_config_text(text, weights, routes)
    backup = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.copy2(path, backup)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(new_text, encoding="utf-8")
    os.replace(temporary, path)
    try:
        load_config(str(path))
    except ConfigError:
        shutil.copy2(backup, path)
        raise
    return backup
