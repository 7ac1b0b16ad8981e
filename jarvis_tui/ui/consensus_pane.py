"""Pane 4: the last consensus round.

Votes appear one by one as ``VoteCast`` events arrive: node, weight, a short
answer, its agreement cluster, latency and status (answered, late, failed,
cancelled; pending until then).  The verdict line carries the confidence and the
flags CONSENSUS FAIBLE and SOURCE UNIQUE; under it, one line per dissenting
cluster ([DESACCORDS]), then who writes the synthesis (the commander node,
streamed into the chat, or the best-scored answer).  Answers are model output:
they are shown as literal one-line ``Text``.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from jarvis_tui.ui.cells import Numbers, plain
from jarvis_tui.ui.pane_frame import RememberedFrame
from jarvis_tui.ui.pane_table import PaneTable

# The short columns first: in a narrow pane the answer (free text, already shortened) is what gets cut.
VOTE_COLUMNS = (("node", "node"), ("weight", "wt"), ("status", "status"), ("latency", "ms"), ("cluster", "cl"),
                ("answer", "answer"))
ANSWER_CHARS = 24
MAX_DISAGREEMENTS = 4  # one line each; the whole list is in --json and in the stored round
WARNING_FLAGS = ("CONSENSUS FAIBLE", "SOURCE UNIQUE", "AUCUNE REPONSE", "EGALITE")


class VotesTable(PaneTable):
    COMPONENT_CLASSES = {"votes--answered", "votes--late", "votes--failed", "votes--cancelled", "votes--pending"}


class ConsensusPane(RememberedFrame, Vertical):
    def __init__(self, numbers: Numbers, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.numbers = numbers
        self.prompt_line = Static(Text("No consensus round yet. Ctrl+P → \"Ask with consensus\"."),
                                  markup=False, id="consensus-prompt")
        self.table = VotesTable(id="consensus-votes", cursor_type="row", show_cursor=False)
        self.verdict = Static(Text(""), markup=False, id="consensus-verdict")
        self.disagreements = Static(Text(""), markup=False, id="consensus-disagreements")
        self.synthesis = Static(Text(""), markup=False, id="consensus-synthesis")
        self.bench_label = Static(Text(""), markup=False, id="bench-label")
        self.bench_bar: Any = None  # a ProgressBar, made with the other hidden lines after the first frame
        for line in (self.verdict, self.disagreements, self.synthesis, self.bench_label):
            line.display = False
        self.round_id: str | None = None
        self.weights: dict[str, float] = {}

    def compose(self) -> ComposeResult:
        yield self.prompt_line
        yield self.table

    def on_mount(self) -> None:
        for key, label in VOTE_COLUMNS:
            self.table.add_column(Text(label), key=key)  # Text: a str is parsed as markup (see nodes_pane)
        # The lines under the table stay hidden until a round or a benchmark: they are mounted right after the
        # first frame, which need not style them (nor import and parse the ProgressBar's CSS).
        self.call_after_refresh(self._mount_hidden_lines)

    def _mount_hidden_lines(self) -> None:
        if self.bench_bar is not None:
            return
        from textual.widgets import ProgressBar

        self.bench_bar = ProgressBar(total=100, show_eta=False, id="bench-bar")
        self.bench_bar.display = False
        self.mount(self.verdict, self.disagreements, self.synthesis, self.bench_label, self.bench_bar)

    def started(self, round_id: str, prompt: str, nodes: tuple[str, ...], weights: tuple[float, ...]) -> None:
        self.round_id = round_id
        self.table.clear()
        self.weights = dict(zip(nodes, weights, strict=False))
        self.prompt_line.update(plain(f"Q: {prompt}", 200))
        self.verdict.update(Text(f"waiting for {len(nodes)} node{'s' if len(nodes) != 1 else ''}…"))
        self.verdict.display = True
        self.verdict.set_classes("-pending")
        self.disagreements.display = False
        self.synthesis.display = False

    def vote(self, event: Any) -> None:
        # Imported here: the consensus module is not needed for the first frame.
        from jarvis_tui.core.consensus import short_answer

        if self.round_id is not None and event.round_id != self.round_id:
            return
        # A vote cancelled by the early decision has no answer, and its "error" only says so: the status does.
        shown = short_answer(event.answer) if event.answer else ("" if event.status == "cancelled" else event.error)
        answer = " ".join((shown or "").split())
        if len(answer) > ANSWER_CHARS:
            answer = answer[: ANSWER_CHARS - 1] + "…"
        status = event.status
        style = self.table.get_component_rich_style(f"votes--{status}") if status in (
            "answered", "late", "failed", "cancelled", "pending") else None
        cells = (
            plain(event.node, 12),
            Text(f"{event.weight:.1f}", justify="right"),
            Text(status, style=style or ""),
            Text(self.numbers.ms(event.latency_ms), justify="right"),
            Text("—" if event.cluster is None else chr(ord("A") + event.cluster % 26), justify="center"),
            plain(answer or "—"),
        )
        key = event.node
        if key in self.table.rows:
            for (column, _), value in zip(VOTE_COLUMNS, cells, strict=True):
                self.table.update_cell(key, column, value)
        else:
            self.table.add_row(*cells, key=key)

    def decided(self, event: Any) -> None:
        from jarvis_tui.core.consensus import short_answer

        if self.round_id is not None and event.round_id != self.round_id:
            return
        line = Text()
        if event.verdict is None:
            line.append("[VERDICT] no node answered")
        else:
            line.append("[VERDICT] ")
            line.append_text(plain(short_answer(event.verdict), 160))
        line.append(f"   [CONFIANCE] {event.confidence * 100:.0f}%")
        flags = [f for f in event.flags]
        if flags:
            line.append("   " + " · ".join(flags))
        self.verdict.update(line)
        self.verdict.display = True
        weak = any(f in WARNING_FLAGS for f in flags) or event.verdict is None
        self.verdict.set_classes("-weak" if weak else "-strong")
        if event.disagreements:
            listing = Text("[DESACCORDS]")
            for disagreement in event.disagreements[:MAX_DISAGREEMENTS]:
                listing.append("\n  ")
                listing.append_text(plain(disagreement, 160))
            if len(event.disagreements) > MAX_DISAGREEMENTS:
                listing.append(f"\n  … {len(event.disagreements) - MAX_DISAGREEMENTS} more")
            self.disagreements.update(listing)
        self.disagreements.display = bool(event.disagreements)

    def synthesis_started(self, event: Any) -> None:
        if self.round_id is not None and event.round_id != self.round_id:
            return
        self.synthesis.update(plain(f"[SYNTHESE] [{event.node}/{event.model}] is writing it in the chat…", 160))
        self.synthesis.display = True

    def synthesis_finished(self, event: Any) -> None:
        if self.round_id is not None and event.round_id != self.round_id:
            return
        if event.streamed:
            text = f"[SYNTHESE] written by [{event.node}/{event.model}]"
        else:
            why = f" ({event.error})" if event.error else ""
            text = f"[SYNTHESE] best-scored answer: [{event.node}/{event.model}]{why}"
        self.synthesis.update(plain(text, 200))
        self.synthesis.display = True

    def bench_progress(self, done: int, total: int, text: str) -> None:
        self._mount_hidden_lines()
        self.bench_label.display = True
        self.bench_bar.display = True
        self.bench_label.update(plain(text, 160))
        self.bench_bar.update(total=max(total, 1), progress=done)

    def bench_finished(self, text: str) -> None:
        self._mount_hidden_lines()
        self.bench_label.update(plain(text, 200))
        self.bench_bar.display = False
