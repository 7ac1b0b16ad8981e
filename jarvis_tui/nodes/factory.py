"""One place that turns a node's config into the client for its wire protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from jarvis_tui.nodes.anthropic import AnthropicClient
from jarvis_tui.nodes.base import NodeClient
from jarvis_tui.nodes.gemini import GeminiClient
from jarvis_tui.nodes.http import shared_http_client
from jarvis_tui.nodes.lmstudio import LMStudioClient
from jarvis_tui.nodes.ollama import OllamaClient
from jarvis_tui.nodes.openai import OpenAIClient

if TYPE_CHECKING:
    from jarvis_tui.config import NodeConfig

# None of these modules imports a heavy package at import time (anthropic loads its SDK on use).
CLIENTS: dict[str, type[NodeClient]] = {
    "openai": OpenAIClient,
    "ollama": OllamaClient,
    "lmstudio": LMStudioClient,
    "anthropic": AnthropicClient,
    "gemini": GeminiClient,
}


def make_client(node_config: NodeConfig, http: httpx.AsyncClient | None = None) -> NodeClient:
    """The client for ``node_config.kind``; ``http`` defaults to the running loop's shared pool."""
    try:
        client_class = CLIENTS[node_config.kind]
    except KeyError:
        raise ValueError(f"node '{node_config.name}': unknown kind '{node_config.kind}'; "
                         f"use one of {', '.join(CLIENTS)}") from None
    return client_class(node_config, http if http is not None else shared_http_client())
