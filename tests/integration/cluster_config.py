"""Builds configs and TOML files that point at loopback nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jarvis_tui.config import BreakerConfig, Config, HealthConfig, NodeConfig, StoreConfig


def node_config(name: str, url: str, *, kind: str = "openai", model: str = "loopback-model",
                **extra: Any) -> NodeConfig:
    extra.setdefault("timeout_s", 5.0)
    extra.setdefault("connect_timeout_s", 1.0)
    return NodeConfig(name=name, kind=kind, url=url, model=model, **extra)


def make_config(nodes: list[NodeConfig], db_path: Path, routing: dict[str, tuple[str, ...]] | None = None,
                *, failures: int = 3, cooldown_s: float = 30.0) -> Config:
    return Config(path=None, nodes=tuple(nodes), routing=routing or {}, store=StoreConfig(db_path),
                  health=HealthConfig(interval_s=60.0, timeout_s=1.0),
                  breaker=BreakerConfig(failures=failures, cooldown_s=cooldown_s))


def write_toml(path: Path, nodes: list[dict[str, Any]], routing: dict[str, list[str]] | None = None,
               db_path: Path | None = None, extra: str = "") -> Path:
    lines: list[str] = []
    for node in nodes:
        lines.append("[[nodes]]")
        for key, value in node.items():
            lines.append(f"{key} = {_toml(value)}")
        lines.append("")
    if routing:
        lines.append("[routing]")
        lines.extend(f"{task} = {_toml(names)}" for task, names in routing.items())
        lines.append("")
    if db_path is not None:
        lines += ["[store]", f"path = {_toml(str(db_path))}", ""]
    lines.append("[embedded]\nenabled = false\n")
    path.write_text("\n".join(lines) + extra)
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
