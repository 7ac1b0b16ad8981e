"""Gemini through Google's OpenAI-compatible endpoint.

The node url is the compatibility root, by default
``https://generativelanguage.googleapis.com/v1beta/openai``; chat is
``{url}/chat/completions`` and the model list ``{url}/models`` (no ``/v1``
segment).  The wire format is the OpenAI one, so everything but the paths and
the key comes from ``OpenAIClient``.  The key is a Bearer token read from the
env var named by ``api_key_env`` (``GEMINI_API_KEY`` when unset) at the moment
of the call; without it the call is skipped, never sent.
"""

from __future__ import annotations

import os

from jarvis_tui.nodes.base import NodeError, Outcome
from jarvis_tui.nodes.openai import OpenAIClient

DEFAULT_KEY_ENV = "GEMINI_API_KEY"


class GeminiClient(OpenAIClient):
    kind = "gemini"

    def api_base(self) -> str:
        return self.config.url.rstrip("/")

    def key_env(self) -> str:
        return self.config.api_key_env or DEFAULT_KEY_ENV

    def headers(self) -> dict[str, str]:
        name = self.key_env()
        key = os.environ.get(name, "")
        if not key:
            raise NodeError(Outcome.SKIPPED, f"env var {name} is not set; export the Gemini API key there")
        return {"Authorization": f"Bearer {key}"}

    async def _list_models(self) -> list[str]:
        # Google names them "models/gemini-2.5-flash"; chat accepts the bare name.
        return [name.removeprefix("models/") for name in await super()._list_models()]
