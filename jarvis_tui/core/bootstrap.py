"""Works out of the box: find local servers on their default ports, else embed one.

With no configured nodes, jarvis probes the loopback defaults concurrently
(Ollama 11434, LM Studio 1234, llama.cpp 8080) with a short timeout and uses
what answers.  When nothing answers and ``[embedded] enabled`` (the default),
it starts the embedded llama-server node.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

import httpx

from jarvis_tui.config import Config, NodeConfig

PROBE_TIMEOUT_S = 0.4


@dataclass(frozen=True, slots=True)
class DefaultServer:
    name: str
    kind: str
    port: int
    probe_path: str


DEFAULT_SERVERS = (
    DefaultServer("OLLAMA", "ollama", 11434, "/api/tags"),
    DefaultServer("LMSTUDIO", "openai", 1234, "/v1/models"),
    DefaultServer("LLAMACPP", "openai", 8080, "/v1/models"),
)


async def _probe(http: httpx.AsyncClient, server: DefaultServer, host: str) -> NodeConfig | None:
    url = f"http://{host}:{server.port}"
    try:
        response = await http.get(url + server.probe_path, timeout=PROBE_TIMEOUT_S)
        if response.status_code != 200:
            return None
        data = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    model = ""
    if server.kind == "ollama":
        models = data.get("models") or []
        model = models[0].get("name", "") if models and isinstance(models[0], dict) else ""
    else:
        models = data.get("data") or []
        model = models[0].get("id", "") if models and isinstance(models[0], dict) else ""
    if not model:
        return None  # a server with no model loaded cannot answer
    return NodeConfig(name=server.name, kind=server.kind, url=url, model=model)


async def discover_local_nodes(http: httpx.AsyncClient, host: str = "127.0.0.1",
                               servers: tuple[DefaultServer, ...] = DEFAULT_SERVERS) -> list[NodeConfig]:
    found = await asyncio.gather(*(_probe(http, s, host) for s in servers))
    return [node for node in found if node is not None]


async def bootstrap_nodes(config: Config, http: httpx.AsyncClient) -> tuple[Config, object | None]:
    """Return a config with discovered (or embedded) nodes, and the embedded server if one was started."""
    nodes = await discover_local_nodes(http)
    if nodes:
        return dataclasses.replace(config, nodes=tuple(nodes), discovered=True), None
    if not config.embedded.enabled:
        return config, None
    from jarvis_tui.config import xdg_dir
    from jarvis_tui.nodes.embedded import EMBEDDED_ALIAS, EMBEDDED_NODE_NAME, EmbeddedServer

    log_dir = xdg_dir("STATE")
    log_dir.mkdir(parents=True, exist_ok=True)
    server = EmbeddedServer(model_path=config.embedded.model_path, context=config.embedded.context,
                            threads=config.embedded.threads, log_path=log_dir / "embedded-llama-server.log")
    await asyncio.to_thread(server.start)
    node = NodeConfig(name=EMBEDDED_NODE_NAME, kind="openai", url=server.url, model=EMBEDDED_ALIAS,
                      timeout_s=120.0, first_token_timeout_s=60.0, max_tokens=256, temperature=0.0,
                      embedded=True)
    return dataclasses.replace(config, nodes=(node,), discovered=True), server
