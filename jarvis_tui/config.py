"""Configuration: one TOML file -> typed, frozen dataclasses.

Every problem becomes one ``ConfigError`` that knows the file and, where it can
be found, the line.  Faces turn it into ``jarvis: config error: PATH:LINE: ...``
and exit code 2.  Unknown keys are warnings, never errors, so a config written
for a newer jarvis still loads.

This module stays light: it imports only the standard library, because the
headless face loads it on every call.  Sections owned by a subsystem (gpu,
voice, trading, commander) are parsed by that subsystem's light ``settings``
module through ``SECTION_PARSERS``.
"""

from __future__ import annotations

import importlib
import marshal
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse

NODE_KINDS = ("openai", "ollama", "lmstudio", "anthropic", "gemini")
CLOUD_DEFAULT_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}
CLOUD_DEFAULT_URLS = {
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai",
}
# Patterns are plain strings: re compiles (and caches) them on first use, and only api_key_env
# values and the line lookup of errors and warnings need them; a clean start-up compiles none.
ENV_VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ConfigError(Exception):
    """A config problem, located at ``path`` and, when known, ``line``."""

    def __init__(self, path: str | os.PathLike[str], message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class ConfigWarning(NamedTuple):
    """A config problem that does not stop jarvis (an unknown key), located like ConfigError.

    This and the small tables below are NamedTuples, SectionContext a plain class, not dataclasses: Python 3.11
    compiles each method of a dataclass as its class is built (~1.5 ms a class), and this module is loaded
    before the cockpit's first frame (docs/cockpit.md, "First paint").  NodeConfig and Config stay dataclasses:
    the benchmark proposal and node discovery change them with dataclasses.replace.
    """

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One [[nodes]] entry: where a node is, what it speaks and how long to wait for it."""

    name: str
    kind: str
    url: str
    model: str = ""
    weight: float = 1.0
    timeout_s: float = 60.0
    connect_timeout_s: float = 3.0
    first_token_timeout_s: float | None = None
    api_key_env: str | None = None
    think: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    gpu_metrics_url: str | None = None
    enabled: bool = True
    max_concurrency: int = 8  # requests in flight to this node; the rest queue in jarvis
    embedded: bool = False

    @property
    def first_token_deadline_s(self) -> float:
        if self.first_token_timeout_s is not None:
            return min(self.first_token_timeout_s, self.timeout_s)
        return self.timeout_s

    def api_key(self) -> str | None:
        """The key, read from the environment at the moment it is needed."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env, "")
        return value or None


class StoreConfig(NamedTuple):
    """[store]: where the SQLite database lives."""

    path: Path


class HealthConfig(NamedTuple):
    """[health]: how often and how patiently nodes are checked."""

    interval_s: float = 15.0
    timeout_s: float = 3.0


class BreakerConfig(NamedTuple):
    """[breaker]: consecutive failures before a node cools down, and for how long."""

    failures: int = 3
    cooldown_s: float = 30.0


class EmbeddedConfig(NamedTuple):
    """[embedded]: the llama-server node started when no other node is found."""

    enabled: bool = True
    model_path: str | None = None
    context: int = 2048
    threads: int = 2


@dataclass(frozen=True, slots=True)
class Config:
    """The whole parsed config file (or the defaults when there is none)."""

    path: Path | None
    nodes: tuple[NodeConfig, ...]
    routing: dict[str, tuple[str, ...]]
    store: StoreConfig
    health: HealthConfig = HealthConfig()
    breaker: BreakerConfig = BreakerConfig()
    embedded: EmbeddedConfig = EmbeddedConfig()
    discovered: bool = False  # nodes came from probing default ports, not a file
    sections: dict[str, Any] = field(default_factory=dict)  # parsed subsystem sections
    warnings: tuple[ConfigWarning, ...] = ()

    def node(self, name: str) -> NodeConfig:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def section(self, name: str) -> Any:
        """A subsystem's parsed settings; defaults when the file has no such table."""
        if name not in self.sections:
            parser = _section_parser(name)
            # Config is frozen but its sections dict is not: cache the defaults once.
            self.sections[name] = parser({}, SectionContext(_Locator(None, ""), name, []))
        return self.sections[name]


# ---------------------------------------------------------------- locating lines


class _Locator:
    """Finds the line of a key in the TOML text: tomllib reports no positions."""

    _HEADER = r"^\s*\[(\[)?\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$"
    _KEY = r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*="

    def __init__(self, path: Path | None, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, table: str, key: str | None = None, index: int = 0) -> int | None:
        """Line of ``key`` in the ``index``-th ``[table]``/``[[table]]``; the header if no key."""
        current: str | None = ""
        seen = -1
        header_line: int | None = None
        for number, raw in enumerate(self.lines, start=1):
            header = re.match(self._HEADER, raw)
            if header:
                current = header.group(2).strip().strip("\"'")
                if current == table:
                    seen += 1
                    if seen == index:
                        header_line = number
                        if key is None:
                            return number
                continue
            if current == table and seen == index and key is not None:
                match = re.match(self._KEY, raw)
                if match and match.group(1).strip('"') == key:
                    return number
        return header_line


class SectionContext:
    """Handed to subsystem section parsers so their errors carry path and line."""

    __slots__ = ("index", "locator", "table", "warnings")

    def __init__(self, locator: _Locator, table: str, warnings: list[ConfigWarning], index: int = 0) -> None:
        self.locator = locator
        self.table = table
        self.warnings = warnings
        self.index = index

    @property
    def path(self) -> str:
        return str(self.locator.path) if self.locator.path else "<defaults>"

    def error(self, message: str, key: str | None = None) -> ConfigError:
        return ConfigError(self.path, message, self.locator.line_of(self.table, key, self.index))

    def warn(self, message: str, key: str | None = None) -> None:
        self.warnings.append(ConfigWarning(self.path, self.locator.line_of(self.table, key, self.index), message))

    # typed getters shared by every section --------------------------------
    def get(self, raw: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in raw:
            return default
        value = raw[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            wanted = " or ".join(_type_name(k) for k in kinds)
            raise self.error(
                f"[{self.table}] {key} must be {wanted}, not {_type_name(type(value))} ({value!r})", key
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(f"[{self.table}] {key} must be a finite number", key)
        return value

    def positive(self, raw: dict[str, Any], key: str, default: float | None) -> float | None:
        value = self.get(raw, key, float, default)
        if value is not None and value <= 0:
            raise self.error(f"[{self.table}] {key} must be > 0, got {value:g}", key)
        return value

    def check_unknown(self, raw: dict[str, Any], known: set[str]) -> None:
        for key in raw:
            if key not in known:
                self.warn(f"unknown key '{key}' in [{self.table}] is ignored", key)


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            list: "a list", dict: "a table"}.get(kind, kind.__name__)


# ---------------------------------------------------------------- subsystems

# table name -> "module:function"; each function is light and returns frozen settings.
SECTION_PARSERS: dict[str, str] = {
    "gpu": "jarvis_tui.gpu.settings:parse_gpu_section",
    "voice": "jarvis_tui.voice.settings:parse_voice_section",
    "trading": "jarvis_tui.trading.settings:parse_trading_section",
    "commander": "jarvis_tui.core.commander_settings:parse_commander_section",
}


def _section_parser(name: str) -> Callable[[dict[str, Any], SectionContext], Any]:
    module_name, func = SECTION_PARSERS[name].split(":")
    return getattr(importlib.import_module(module_name), func)


# ---------------------------------------------------------------- paths


def xdg_dir(kind: str) -> Path:
    defaults = {"CONFIG": ".config", "DATA": ".local/share", "CACHE": ".cache", "STATE": ".local/state"}
    base = os.environ.get(f"XDG_{kind}_HOME")
    root = Path(base) if base else Path.home() / defaults[kind]
    return root / "jarvis-tui"


def default_config_path() -> Path:
    return xdg_dir("CONFIG") / "config.toml"


def default_db_path() -> Path:
    return xdg_dir("DATA") / "jarvis.db"


def resolve_config_path(cli_path: str | None) -> tuple[Path | None, bool]:
    """(path, explicit).  An explicit path must exist; the XDG default may not."""
    if cli_path:
        return Path(cli_path), True
    env = os.environ.get("JARVIS_CONFIG")
    if env:
        return Path(env), True
    default = default_config_path()
    return (default if default.exists() else None), False


# ---------------------------------------------------------------- loading


NODE_KEYS = {f for f in NodeConfig.__slots__}  # type: ignore[attr-defined]
TOP_LEVEL = {"nodes", "routing", "store", "health", "breaker", "embedded", *SECTION_PARSERS}


def load_config(cli_path: str | None = None, *, parsed_cache: Path | None = None) -> Config:
    """The config at the CLI's path, $JARVIS_CONFIG or the XDG default; the defaults when there is none.

    ``parsed_cache``: a file that keeps the last parsed TOML with its text (only `jarvis` passes one, from its
    cache folder, see ``ui/launch.py``).  When the text read now is the text it holds, the parse is taken from
    it and tomllib is not even imported (~4 ms of the cockpit's first paint); otherwise the text is parsed and
    the file rewritten.  A missing, damaged or foreign file only means parsing.
    """
    path, explicit = resolve_config_path(cli_path)
    if path is None:
        return _build({}, None, "")
    text = _read_text(path)
    raw = _cached_parse(parsed_cache, path, text) if parsed_cache is not None else None
    if raw is None:
        raw = _parse_toml(path, text)
        if parsed_cache is not None:
            _save_parse(parsed_cache, path, text, raw)
    return _build(raw, path, text)


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        message = getattr(exc, "msg", str(exc))
        if line is None:
            found = re.search(r"line (\d+)", str(exc))
            line = int(found.group(1)) if found else None
            message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(path, f"TOML syntax error: {message}; fix the syntax on that line", line) from None


def _cached_parse(cache: Path, path: Path, text: str) -> dict[str, Any] | None:
    try:
        version, cached_path, cached_text, raw = marshal.loads(cache.read_bytes())
    except Exception:  # noqa: BLE001 - missing, damaged or foreign: parse as if there were none
        return None
    if version != sys.version or cached_path != str(path) or cached_text != text or not isinstance(raw, dict):
        return None
    return raw


def _save_parse(cache: Path, path: Path, text: str, raw: dict[str, Any]) -> None:
    try:
        data = marshal.dumps((sys.version, str(path), text, raw))  # dates and times do not marshal: not kept
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, cache)
    except (ValueError, OSError):
        pass  # a cache that cannot be written is only a slower next start


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "file not found; create it with `jarvis --init-config` or fix the path") from None
    except IsADirectoryError:
        raise ConfigError(path, "is a directory, not a TOML file") from None
    except PermissionError:
        raise ConfigError(path, "cannot read the file (permission denied); check its permissions") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read the file ({exc.strerror or exc}); check the path") from None
    if b"\x00" in data:
        raise ConfigError(path, "is a binary file, not TOML text; point --config at the TOML config")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(path, "is not UTF-8 text; save the config as UTF-8 TOML") from None


def _build(raw: dict[str, Any], path: Path | None, text: str) -> Config:
    locator = _Locator(path, text)
    warnings: list[ConfigWarning] = []
    where = str(path) if path else "<defaults>"

    for key in raw:
        if key not in TOP_LEVEL:
            warnings.append(ConfigWarning(where, locator.line_of(key) or locator.line_of("", key),
                                          f"unknown key '{key}' is ignored"))

    nodes_raw = raw.get("nodes", [])
    if not isinstance(nodes_raw, list) or not all(isinstance(n, dict) for n in nodes_raw):
        raise ConfigError(where, "nodes must be an array of tables: write each node as [[nodes]]",
                          locator.line_of("nodes") or locator.line_of("", "nodes"))
    nodes: list[NodeConfig] = []
    seen: dict[str, int] = {}
    for index, node_raw in enumerate(nodes_raw):
        ctx = SectionContext(locator, "nodes", warnings, index)
        node = _parse_node(node_raw, ctx)
        if node.name in seen:
            raise ctx.error(f"duplicate node name '{node.name}' (also node #{seen[node.name] + 1}); "
                            "node names must be unique", "name")
        seen[node.name] = index
        nodes.append(node)

    routing = _parse_routing(raw.get("routing", {}), SectionContext(locator, "routing", warnings), seen)
    store = _parse_store(raw.get("store", {}), SectionContext(locator, "store", warnings), path)
    health = _parse_simple(raw.get("health", {}), SectionContext(locator, "health", warnings), HealthConfig,
                           positive=("interval_s", "timeout_s"))
    breaker_ctx = SectionContext(locator, "breaker", warnings)
    breaker = _parse_simple(raw.get("breaker", {}), breaker_ctx, BreakerConfig, positive=("failures", "cooldown_s"))
    embedded = _parse_simple(raw.get("embedded", {}), SectionContext(locator, "embedded", warnings), EmbeddedConfig,
                             positive=("context", "threads"))

    # Only tables present in the file are parsed now; absent ones get their defaults on first
    # use (Config.section), so a headless call never imports settings it does not need.
    sections: dict[str, Any] = {}
    for name in SECTION_PARSERS:
        if name not in raw:
            continue
        section_raw = raw[name]
        ctx = SectionContext(locator, name, warnings)
        if not isinstance(section_raw, dict):
            raise ctx.error(f"[{name}] must be a table")
        sections[name] = _section_parser(name)(section_raw, ctx)

    return Config(path=path, nodes=tuple(nodes), routing=routing, store=store, health=health,
                  breaker=breaker, embedded=embedded, sections=sections, warnings=tuple(warnings))


def _parse_node(raw: dict[str, Any], ctx: SectionContext) -> NodeConfig:
    name = ctx.get(raw, "name", str)
    if not name or not name.strip():
        raise ctx.error("every [[nodes]] entry needs a non-empty name = \"...\"", "name" if "name" in raw else None)
    kind = ctx.get(raw, "kind", str)
    if kind is None:
        raise ctx.error(f"node '{name}' has no kind; set kind to one of {', '.join(NODE_KINDS)}")
    if kind not in NODE_KINDS:
        raise ctx.error(f"node '{name}': unknown kind '{kind}'; use one of {', '.join(NODE_KINDS)}", "kind")
    url = ctx.get(raw, "url", str, CLOUD_DEFAULT_URLS.get(kind))
    if url is None:
        raise ctx.error(f"node '{name}' has no url; set url = \"http://HOST:PORT\"")
    _check_http_url(url, ctx, "url", f"node '{name}'")
    metrics_url = ctx.get(raw, "gpu_metrics_url", str)
    if metrics_url is not None:
        _check_http_url(metrics_url, ctx, "gpu_metrics_url", f"node '{name}'")
    weight = ctx.get(raw, "weight", float, 1.0)
    if weight <= 0:
        raise ctx.error(f"node '{name}': weight must be > 0, got {weight:g}; use e.g. 1.0", "weight")
    timeout = ctx.positive(raw, "timeout_s", 60.0)
    connect = ctx.positive(raw, "connect_timeout_s", 3.0)
    first_token = ctx.positive(raw, "first_token_timeout_s", None)
    key_env = ctx.get(raw, "api_key_env", str, CLOUD_DEFAULT_KEY_ENV.get(kind))
    if key_env is not None and not re.match(ENV_VAR_NAME, key_env):
        # Never echo the value: someone may have pasted the key itself here.
        raise ctx.error(f"node '{name}': api_key_env must be the NAME of an environment variable "
                        "(letters, digits, _), not the key itself", "api_key_env")
    max_tokens = ctx.get(raw, "max_tokens", int)
    if max_tokens is not None and max_tokens <= 0:
        raise ctx.error(f"node '{name}': max_tokens must be > 0", "max_tokens")
    max_concurrency = ctx.get(raw, "max_concurrency", int, 8)
    if max_concurrency <= 0:
        raise ctx.error(f"node '{name}': max_concurrency must be > 0", "max_concurrency")
    node = NodeConfig(
        name=name.strip(),
        kind=kind,
        url=url.rstrip("/"),
        model=ctx.get(raw, "model", str, ""),
        weight=weight,
        timeout_s=timeout,
        connect_timeout_s=connect,
        first_token_timeout_s=first_token,
        api_key_env=key_env,
        think=ctx.get(raw, "think", bool),
        max_tokens=max_tokens,
        temperature=ctx.get(raw, "temperature", float),
        gpu_metrics_url=metrics_url,
        enabled=ctx.get(raw, "enabled", bool, True),
        max_concurrency=max_concurrency,
    )
    ctx.check_unknown(raw, NODE_KEYS - {"embedded"})
    return node


def _check_http_url(url: str, ctx: SectionContext, key: str, owner: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ctx.error(f"{owner}: {key} must be an http:// or https:// URL, got '{url}'", key)


def _parse_routing(raw: Any, ctx: SectionContext, node_names: dict[str, int]) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ctx.error("[routing] must be a table of task_type = [\"NODE\", ...]")
    routing: dict[str, tuple[str, ...]] = {}
    for task_type, names in raw.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ctx.error(f"[routing] {task_type} must be a list of node names, e.g. [\"M2\", \"OL1\"]", task_type)
        for name in names:
            if node_names and name not in node_names:
                known = ", ".join(node_names) or "none"
                raise ctx.error(f"[routing] {task_type} names unknown node '{name}'; known nodes: {known}",
                                task_type)
        routing[task_type] = tuple(names)
    return routing


def _parse_store(raw: Any, ctx: SectionContext, config_path: Path | None) -> StoreConfig:
    if not isinstance(raw, dict):
        raise ctx.error("[store] must be a table")
    ctx.check_unknown(raw, {"path"})
    value = ctx.get(raw, "path", str)
    if not value:
        return StoreConfig(path=default_db_path())
    db = Path(os.path.expandvars(os.path.expanduser(value)))
    if not db.is_absolute() and config_path is not None:
        db = config_path.parent / db
    return StoreConfig(path=db)


def _parse_simple(raw: Any, ctx: SectionContext, cls: type, positive: tuple[str, ...] = ()) -> Any:
    if not isinstance(raw, dict):
        raise ctx.error(f"[{ctx.table}] must be a table")
    defaults = cls()
    values: dict[str, Any] = {}
    for name in cls._fields:
        default = getattr(defaults, name)
        kind: Any = type(default) if default is not None else str
        if kind is float:
            kind = float
        value = ctx.get(raw, name, kind, default)
        if name in positive and value is not None and value <= 0:
            raise ctx.error(f"[{ctx.table}] {name} must be > 0, got {value}", name)
        values[name] = value
    ctx.check_unknown(raw, set(cls._fields))
    return cls(**values)


# ---------------------------------------------------------------- starter file


def starter_config_text() -> str:
    from importlib import resources

    return resources.files("jarvis_tui").joinpath("starter_config.toml").read_text("utf-8")


def write_starter_config(cli_path: str | None) -> Path:
    path, _ = resolve_config_path(cli_path)
    target = path or default_config_path()
    if target.exists():
        raise ConfigError(target, "already exists; not overwriting it (move it away first)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(starter_config_text(), encoding="utf-8")
    return target
