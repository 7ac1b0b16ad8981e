"""One place that turns a node's config into the client for its wire protocol."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import httpx

from jarvis_tui.nodes.base import NodeClient
from jarvis_tui.nodes.http import shared_http_client

if TYPE_CHECKING:
    from jarvis_tui.config import NodeConfig

# kind -> (module, class).  Only the modules of configured kinds are imported: a headless
# call to one local node pays for one protocol module, not five.
CLIENTS: dict[str, tuple[str, str]] = {
    "openai": ("jarvis_tui.nodes.openai", "OpenAIClient"),
    "ollama": ("jarvis_tui.nodes.ollama", "OllamaClient"),
    "lmstudio": ("jarvis_tui.nodes.lmstudio", "LMStudioClient"),
    "anthropic": ("jarvis_tui.nodes.anthropic", "AnthropicClient"),
    "gemini": ("jarvis_tui.nodes.gemini", "GeminiClient"),
}


def client_class(kind: str) -> type[NodeClient]:
    module, name = CLIENTS[kind]
    return getattr(importlib.import_module(module), name)


def make_client(node_config: NodeConfig, http: httpx.AsyncClient | None = None) -> NodeClient:
    """The client for ``node_config.kind``; ``http`` defaults to the running loop's shared pool."""
    try:
        cls = client_class(node_config.kind)
    except KeyError:
        raise ValueError(f"node '{node_config.name}': unknown kind '{node_config.kind}'; "
                         f"use one of {', '.join(CLIENTS)}") from None
    return cls(node_config, http if http is not None else shared_http_client())
