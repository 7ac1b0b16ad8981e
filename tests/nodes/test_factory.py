"""make_client picks the wire protocol by kind; only a Claude node ever imports the anthropic SDK."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jarvis_tui.config import NODE_KINDS
from jarvis_tui.nodes.anthropic import AnthropicClient
from jarvis_tui.nodes.factory import CLIENTS, make_client
from jarvis_tui.nodes.gemini import GeminiClient
from jarvis_tui.nodes.lmstudio import LMStudioClient
from jarvis_tui.nodes.ollama import OllamaClient
from jarvis_tui.nodes.openai import OpenAIClient

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind, expected", [("openai", OpenAIClient), ("ollama", OllamaClient),
                                            ("lmstudio", LMStudioClient), ("anthropic", AnthropicClient),
                                            ("gemini", GeminiClient)])
async def test_kind_selects_the_client(kind, expected, node_config, http) -> None:
    client = make_client(node_config(kind, "http://127.0.0.1:1"), http)
    assert type(client) is expected and client.kind == kind and client.http is http


async def test_default_http_is_the_shared_pool(node_config, http) -> None:
    assert make_client(node_config("openai", "http://127.0.0.1:1")).http is http


def test_every_config_kind_has_a_client() -> None:
    assert set(CLIENTS) == set(NODE_KINDS)


def test_unknown_kind_is_a_clear_error(node_config) -> None:
    with pytest.raises(ValueError, match="unknown kind 'grpc'"):
        make_client(node_config("grpc", "http://127.0.0.1:1"), object())  # type: ignore[arg-type]


def test_chatting_with_a_local_node_never_imports_the_anthropic_sdk(loopback_node) -> None:
    node = loopback_node(reply="light")
    script = textwrap.dedent(f"""
        import asyncio, sys
        from jarvis_tui.config import NodeConfig
        from jarvis_tui.nodes.base import ChatMessage, NodeError
        from jarvis_tui.nodes.factory import make_client
        from jarvis_tui.nodes.http import close_shared_http_client

        async def main():
            for kind in ("openai", "ollama", "lmstudio"):
                client = make_client(NodeConfig(name="n", kind=kind, url="{node.url}", model="m"))
                assert (await client.chat([ChatMessage("user", "hi")])).text == "light"
            # A Claude node without its key is skipped before the SDK would be loaded.
            claude = make_client(NodeConfig(name="c", kind="anthropic", url="{node.url}", model="m",
                                            api_key_env="JARVIS_UNSET_KEY_FOR_TEST"))
            try:
                await claude.chat([ChatMessage("user", "hi")])
            except NodeError as exc:
                assert exc.outcome == "skipped", exc
            assert not (await claude.health()).ok
            await close_shared_http_client()

        asyncio.run(main())
        heavy = sorted(m for m in ("anthropic", "httpx2", "textual", "ccxt") if m in sys.modules)
        print("heavy:", heavy)
    """)
    env = {k: v for k, v in os.environ.items() if k != "JARVIS_UNSET_KEY_FOR_TEST"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "heavy: []"
