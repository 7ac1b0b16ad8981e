"""Enter on a node: its URL (never a key), loaded models, last errors, and latency history."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Sparkline, Static

from jarvis_tui.ui.cells import Numbers, display_url, plain


def detail_text(row: dict[str, Any], numbers: Numbers) -> Text:
    text = Text()
    text.append_text(plain(f"{row['node']}  ·  {row.get('kind', '')}  ·  {row.get('status', 'unknown')}", 120))
    text.append("\n\n")
    fields = (
        ("URL", display_url(str(row.get("url") or ""))),
        ("model", row.get("model") or "—"),
        ("weight", f"{row.get('weight', 1.0):.2f}"),
        ("breaker", f"{row.get('breaker', '')}" + (f" · {numbers.seconds(row.get('cooldown_s'))} left"
                                                   if row.get("cooldown_s") else "")),
        ("requests", str(row.get("requests", 0))),
        ("p50 / p95", f"{numbers.duration(row.get('p50_ms'))} / {numbers.duration(row.get('p95_ms'))}"),
        ("TTFT", numbers.duration(row.get("ttft_ms"))),
        ("tok/s", numbers.rate(row.get("tokens_per_s"))),
        ("error rate", Numbers.percent(row.get("error_rate"))),
        ("quality", Numbers.score(row.get("quality_score"))),
        ("API key", "from $" + row["api_key_env"] if row.get("api_key_env") else "none"),
    )
    for name, value in fields:
        text.append(f"{name:>11}  ", style="bold")
        text.append_text(plain(value, 160))
        text.append("\n")
    models = row.get("models") or []
    text.append("\nloaded models\n", style="bold")
    if models:
        for model in models[:30]:
            text.append("  ")
            text.append_text(plain(model, 100))
            text.append("\n")
    else:
        text.append("  (none reported yet)\n")
    errors = row.get("last_errors") or []
    text.append("\nlast errors\n", style="bold")
    if errors:
        for error in list(errors)[-10:]:
            text.append("  ")
            text.append_text(plain(error, 200))
            text.append("\n")
    else:
        text.append("  (none)\n")
    return text


class NodeDetailScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, row: dict[str, Any], history: list[float], numbers: Numbers) -> None:
        super().__init__()
        self.row = row
        self.history = history
        self.numbers = numbers

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="node-detail-box"):
            yield Static(detail_text(self.row, self.numbers), markup=False, id="node-detail-text")
            yield Static(Text("latency history (last requests)"), markup=False, classes="detail-caption")
            yield Sparkline(self.history or [0.0], id="node-detail-spark")

    def action_close(self) -> None:
        self.dismiss(None)
