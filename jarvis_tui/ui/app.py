"""The cockpit: a full-screen Textual app with five live panes over the orchestrator core.

Data flow (the only one): the core publishes typed events on its bus; one
worker per subscription (``bridge.BusPump``) turns them into ``EventBatch``
messages, coalesced per frame; the handlers here own the state and update the
widgets.  Widgets never call the network: every orchestrator/service call runs
in a worker started by an action, and reports back with a message.

Layout is in ``styles/jarvis.tcss`` (GPU cards and modal screens: ``LATER_CSS``).
Wide and tall terminals show all five panes in a grid; below 120x34 (breakpoint
classes ``-narrow`` / ``-short``) the cockpit shows one pane at a time under a
tab strip, and 1-5 switch panes.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.content import Content
from textual.reactive import Reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget

from jarvis_tui.core.bus import EventBus
from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.core.text import one_line
from jarvis_tui.paths import styles_dir
from jarvis_tui.ui.bridge import FRAME_S, BusPump
from jarvis_tui.ui.cells import Numbers
from jarvis_tui.ui.chat_pane import ChatPane, PromptInput, answer_label
from jarvis_tui.ui.consensus_pane import ConsensusPane
from jarvis_tui.ui.gpu_pane import GpuPane
from jarvis_tui.ui.key_bar import KeyBar
from jarvis_tui.ui.nodes_pane import NodesPane, NodesTable
from jarvis_tui.ui.positions_pane import PositionsPane, PositionsTable, SignalsTable
from jarvis_tui.ui.services import ALL_SERVICES, CockpitServices
from jarvis_tui.ui.screen_compositor import KeptMapCompositor
from jarvis_tui.ui.status_bar import StatusBar
from jarvis_tui.ui.tab_strip import TabStrip

if TYPE_CHECKING:  # the event and message classes, the palette and the proposal are imported after the first frame
    from textual.command import Provider

    from jarvis_tui.core.events import (
        ErrorRaised,
        Event,
        NodeStatusChanged,
        RequestFinished,
        RequestStarted,
        TokenDelta,
    )
    from jarvis_tui.ui.bench_proposal import ProposalApplied, ProposalFailed, ProposalReady
    from jarvis_tui.ui.commands import PaletteCommand
    from jarvis_tui.ui.messages import (
        ActionDone,
        AskCompleted,
        AskFailed,
        AskRouted,
        ConversationLoaded,
        ConversationsLoaded,
        CoreFailed,
        CoreReady,
        EventBatch,
    )

PANES: tuple[tuple[str, str], ...] = (
    ("chat", "Chat"), ("nodes", "Nodes"), ("gpu", "GPU"), ("consensus", "Consensus"), ("positions", "Positions"),
)
PANE_IDS = tuple(pane_id for pane_id, _ in PANES)
VOICE_PANES = {"chat": "chat", "nodes": "nodes", "gpu": "gpu", "trading": "positions", "positions": "positions",
               "log": "consensus", "consensus": "consensus"}
NODE_REFRESH_S = 0.5
PTT_KEY = "ctrl+t"
# Styles for what the first frame never shows: the GPU cards (mounted with the first readings, after the core
# starts) and the modal screens.  They are added to the stylesheet right after the first frame, or before the
# first screen is pushed if that comes sooner (JarvisApp._add_later_css): parsing them before it cost ~9 ms of
# the first paint, and no widget on screen then matches them, so nothing is restyled when they come.
LATER_CSS = ("gpu_cards.tcss", "screens.tcss")
PANE_GROUP = Binding.Group("Pane", compact=True)
QUIT_GROUP = Binding.Group("Quit")
HELP_GROUP = Binding.Group("Help")


def _optional_event_types() -> dict[str, tuple[type[Event], ...]]:
    """Event types of the subsystems that are installed (their event modules are light)."""
    found: dict[str, tuple[type[Event], ...]] = {}
    try:
        from jarvis_tui.core import commander_events as ce

        found["commander"] = (ce.ConsensusStarted, ce.VoteCast, ce.ConsensusDecided, ce.SynthesisStarted,
                              ce.SynthesisFinished, ce.BenchStarted, ce.BenchProgress, ce.BenchFinished)
    except ImportError:
        pass
    try:
        from jarvis_tui.gpu.events import (
            GpuReadingsUpdated,
            GpuThresholdCrossed,
            ThermalStatusChanged,
        )

        found["gpu"] = (GpuReadingsUpdated, ThermalStatusChanged, GpuThresholdCrossed)
    except ImportError:
        pass
    try:
        from jarvis_tui.trading import events as te

        found["trading"] = (te.PositionsUpdated, te.SignalsUpdated, te.MarketDataStatus, te.PositionClosed,
                            te.TradingModeChanged)
    except ImportError:
        pass
    try:
        from jarvis_tui.voice import events as ve

        found["voice"] = (ve.VoiceStateChanged, ve.VoiceLevel, ve.TranscriptReady, ve.VoiceError)
    except ImportError:
        pass
    return found


def _jarvis_commands() -> type[Provider]:
    """The palette's provider, loaded when the palette first opens (Textual calls this)."""
    from jarvis_tui.ui.commands import JarvisCommands

    return JarvisCommands


# The active pane's title colour, a theme variable so it follows the theme.  Not `border-title-color` under
# `.pane.-active` in styles/jarvis.tcss: Textual handles every colour rule as inherited and repaints the pane's
# whole subtree when one changes (its tables, Markdown, text: ~10 ms of a pane switch); a styled title repaints
# the border alone.
ACTIVE_TITLE_STYLE = "$accent"


def pane_title(pane_id: str, *, active: bool) -> str | Content:
    """``"2 Nodes"``, in the active colour on the active pane."""
    index = PANE_IDS.index(pane_id) + 1
    title = f"{index} {dict(PANES)[pane_id]}"
    return Content.styled(title, ACTIVE_TITLE_STYLE) if active else title


# How long after a key its frame goes first (JarvisApp.input_waiting): the key is handled and drawn well
# within it, even behind a frame of streamed text already under way.
INPUT_FIRST_S = 0.05
# How long after a key the user counts as pressing keys (JarvisApp.user_active): streamed answers are then
# handed to the screen less often, so fewer of the next keys land behind a frame of streamed text.
USER_ACTIVE_S = 1.0


class PaneGrid(Container):
    """The grid of panes.  Its cells are the panes, so it has nothing of its own to draw (see CockpitScreen.BLANK)."""

    BLANK = True


class CockpitScreen(Screen[Any]):
    """The cockpit's main screen.

    Textual's ``Screen.focused`` is a reactive that repaints the whole screen on every focus change, and every
    pane switch moves focus: a full 160x48 repaint costs ~35 ms on a small machine (docs/benchmarks.md).  The
    widgets that gain or lose focus restyle and repaint themselves (``:focus``), and the pane border is restyled
    by ``JarvisApp._mark_active``, so the rest of the screen need not be redrawn.
    """

    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    # Where focus starts (JarvisApp.on_mount focuses it too).  Textual's default "*" first focused the chat log,
    # and the input then took focus from it: two restyles of the log before the first frame for nothing.
    AUTO_FOCUS = "#chat-input"
    # The status bar, the panes and the key bar cover the whole screen: its own lines were rendered at every
    # full frame (the first one included) only to be drawn over.  BLANK makes them plain background strips.
    BLANK = True
    _resumed_before = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compositor = KeptMapCompositor()  # one arrangement of the tree per layout (screen_compositor.py)

    async def _on_idle(self, event: Any) -> None:
        """Just after a key, draw a changed screen now (Screen's own handler runs after this one).

        Textual draws a changed screen at the next tick of a 60 fps timer, and after an idle spell that tick
        comes 17-33 ms later (its grid skips ahead past the tick it missed): a key handled in 3 ms waited
        another 13-25 ms for its frame.  Other changes keep the timer's pace.
        """
        app = self.app
        input_waiting = getattr(app, "input_waiting", None)
        if input_waiting is not None and input_waiting() and self.is_current and not app._batch_count and (
                self._layout_required or self._scroll_required or self._repaint_required or self._dirty_widgets):
            self._on_timer_update()

    def _on_screen_resume(self, event: Any) -> None:
        """First resume: skip Textual's restyle of the whole screen (Screen's own handler runs after this one).

        It comes right after every widget was styled as it mounted, so it would only repeat that work: ~30 ms of
        the first paint on the dev box (docs/benchmarks.md).  Later resumes (a modal closed) restyle as usual.
        """
        if not self._resumed_before:
            self._resumed_before = True
            event.refresh_styles = False


class JarvisApp(App[int]):
    CSS_PATH = str(styles_dir() / "jarvis.tcss")
    TITLE = "jarvis"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    COMMANDS = App.COMMANDS | {_jarvis_commands}
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit", group=QUIT_GROUP),
        Binding("ctrl+c", "quit", "Quit", priority=True, group=QUIT_GROUP),
        Binding("question_mark", "help", "Help", group=HELP_GROUP),
        Binding("f1", "help", "Help", priority=True, group=HELP_GROUP),
        Binding("1", "pane(1)", "Chat", group=PANE_GROUP),
        Binding("2", "pane(2)", "Nodes", group=PANE_GROUP),
        Binding("3", "pane(3)", "GPU", group=PANE_GROUP),
        Binding("4", "pane(4)", "Consensus", group=PANE_GROUP),
        Binding("5", "pane(5)", "Positions", group=PANE_GROUP),
        Binding("z", "zoom", "Zoom"),
        Binding(PTT_KEY, "push_to_talk", "Talk", priority=True),
        Binding("ctrl+r", "health_check", "Health", priority=True),
        Binding("ctrl+n", "new_conversation", "New chat"),
        Binding("ctrl+o", "open_conversations", "Chats"),
        Binding("escape", "cancel_ask", "Cancel", show=False),
    ]

    def __init__(self, config: Any, *, orchestrator: Any = None, live: bool = False, clock: Clock = SYSTEM_CLOCK,
                 services: frozenset[str] = ALL_SERVICES, mask_volatile: bool = False, monitor: bool = True,
                 frame_s: float = FRAME_S, provided_services: dict[str, Any] | None = None,
                 enable_gc_after_first_paint: bool = False, switch_interval_after_first_paint: float | None = None,
                 css_cache_dir: Path | None = None) -> None:
        super().__init__()
        # `jarvis` keeps Textual's parsed CSS between starts (ui/css_cache.py): loaded now, before any parsing.
        self._css_cache: Any = None
        if css_cache_dir is not None:
            from jarvis_tui.ui.css_cache import ParsedCssCache

            self._css_cache = ParsedCssCache(css_cache_dir, self.stylesheet)
            self._css_cache.load()
        self.config = config
        self.live = live
        self.clock = clock
        self.enabled_services = services
        self.provided_services = provided_services
        self.monitor = monitor
        self.frame_s = frame_s
        self.numbers = Numbers(mask=mask_volatile)
        self._injected = orchestrator
        self.bus: EventBus = orchestrator.bus if orchestrator is not None else EventBus()
        self.orchestrator: Any = None
        self.services: CockpitServices | None = None
        self.core_error: str | None = None
        self.conversation_id: int | None = None
        self.ask_conversation: int | None = None
        self.asking = False
        # A spoken prompt is painted before its ask starts (submit_prompt's show_first): "queued" until then,
        # "cancelled" when Esc came first.
        self._ask_queued = ""
        self.zoomed = False
        self.active_pane = "chat"
        self.hidden_panes: set[str] = set()
        self.pumps: list[BusPump] = []
        self._nodes_dirty = True
        self._shutting_down = False
        self._nodes_timer: Timer | None = None
        self._last_key_at = float("-inf")  # time.monotonic() of the last key (input_waiting)
        self.voice_reported: set[str] = set()
        self.thermal_alerts: dict[str, str] = {}
        self.started_at = time.perf_counter()
        self.first_paint_s: float | None = None
        self._enable_gc_after_first_paint = enable_gc_after_first_paint  # `jarvis` pauses it until then (launch.py)
        self._switch_interval_after_first_paint = switch_interval_after_first_paint  # likewise (launch.py)
        self.bench_proposal: Any = None  # the last cockpit benchmark's Proposal, until applied
        self._later_css_added = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status-bar")
        yield TabStrip(PANES, id="pane-tabs")
        with PaneGrid(id="panes"):
            yield ChatPane(self.numbers, id="chat", classes="pane -active")
            yield NodesPane(self.numbers, id="nodes", classes="pane")
            yield GpuPane(id="gpu", classes="pane")
            yield ConsensusPane(self.numbers, id="consensus", classes="pane")
            yield PositionsPane(id="positions", classes="pane")
        yield KeyBar(id="key-bar")

    def get_default_screen(self) -> Screen[Any]:
        screen = CockpitScreen(id="_default")
        # The breakpoint classes for the terminal's size, before anything is styled.  Textual sets them at the
        # screen's first Resize, which came after the first frame: the whole screen was restyled (~24 ms) and
        # laid out again just as the core started, and a small terminal first showed the grid, then the tabs.
        # The Resize now finds them set and changes nothing.
        width, height = self.size
        screen.add_class(*screen._get_breakpoint_classes(width, self.HORIZONTAL_BREAKPOINTS),
                         *screen._get_breakpoint_classes(height, self.VERTICAL_BREAKPOINTS), update=False)
        return screen

    def on_mount(self) -> None:
        for pane_id in PANE_IDS:
            pane = self.query_one(f"#{pane_id}")
            pane.border_title = pane_title(pane_id, active=pane.has_class("-active"))
        self.status_bar.set(db_path=self._display_db_path(), voice=self._voice_off_text())
        self.query_one(ChatPane).input.focus()
        self._nodes_timer = self.set_interval(NODE_REFRESH_S, self._refresh_nodes)
        for warning in getattr(self.config, "warnings", ()):
            self.notify(f"config warning: {one_line(str(warning), 200)}", severity="warning", markup=False)
        # Start the core after the first frame: the first paint must not wait for imports or node discovery.
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        if self.first_paint_s is None:
            self.first_paint_s = time.perf_counter() - self.started_at
        if self._css_cache is not None:
            self._css_cache.save()  # only when this start parsed what the file lacked; before LATER_CSS joins
        self._add_later_css()
        if self._enable_gc_after_first_paint:
            # What start-up built (modules, classes, widgets, CSS) stays for the whole session: frozen, the
            # collector never walks it again.  Otherwise the first collection walks all of it (~37 ms), and
            # each full collection while nodes stream pauses the cockpit for as long.
            gc.freeze()
            gc.enable()
        if self._switch_interval_after_first_paint is not None:
            sys.setswitchinterval(self._switch_interval_after_first_paint)  # before the core's threads start
        # Subscriptions first, so no event of the start-up is missed; then the core.
        self._start_pumps()
        self.run_worker(self._start_core(), name="core-start", group="core", exit_on_error=False)
        # Parse LATER_CSS now, while the core starts, rather than in the first restyle a key causes.
        self.call_later(self.stylesheet.parse)

    def _add_later_css(self) -> None:
        """Add LATER_CSS to the stylesheet; parsed at the next styling, after the sources already there."""
        if self._later_css_added:
            return
        self._later_css_added = True
        paths = [(styles_dir() / name).resolve() for name in LATER_CSS]
        for path in paths:
            # add_source, not Stylesheet.read: read leaves the selector map built for the old rules in place,
            # so the next node styled would not see the new ones.  Same source key as read (the monitor's).
            self.stylesheet.add_source(path.read_text("utf-8"), read_from=(str(path), ""))
        if self.css_monitor is not None:  # `textual run --dev`: reload these too when they change
            self.css_monitor.add_paths(paths)

    def push_screen(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._add_later_css()  # a screen pushed before the first frame's callback still finds its styles
        return super().push_screen(*args, **kwargs)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def chat(self) -> ChatPane:
        return self.query_one(ChatPane)

    def _display_db_path(self) -> str:
        path = str(self.config.store.path)
        home = str(Path.home())
        return "~" + path[len(home):] if path.startswith(home + "/") else path

    def _voice_off_text(self) -> str:
        return f"voice off ({PTT_KEY} to talk)"

    # ------------------------------------------------------------------ core lifecycle

    def _start_pumps(self) -> None:
        from jarvis_tui.core.events import ErrorRaised, NodeStatusChanged, RequestFinished, RequestStarted, TokenDelta

        groups: list[tuple[str, tuple[type[Event], ...], tuple[type[Event], ...]]] = []
        optional = _optional_event_types()
        # Request lifecycle, node status and the commander share one subscription: a synthesis or an answer's
        # deltas must stay ordered before its finish event.
        core_types: tuple[type[Event], ...] = (NodeStatusChanged, RequestStarted, TokenDelta, RequestFinished,
                                               ErrorRaised) + optional.get("commander", ())
        groups.append(("core", core_types, ()))
        if "gpu" in optional:
            groups.append(("gpu", optional["gpu"], (optional["gpu"][0],)))
        if "trading" in optional:
            groups.append(("trading", optional["trading"], optional["trading"][:2]))
        if "voice" in optional:
            groups.append(("voice", optional["voice"], (optional["voice"][1],)))
        for source, types, latest in groups:
            pump = BusPump(self.bus, types, source, self.post_message, frame_s=self.frame_s, latest_only=latest)
            self.pumps.append(pump)
            self.run_worker(pump.run(), name=f"bus-{source}", group="bus", exit_on_error=False)

    async def _start_core(self) -> None:
        """Worker: start (or adopt) the orchestrator and the subsystems, then report with a message."""
        from jarvis_tui.ui.messages import CoreFailed, CoreReady

        orchestrator = self._injected
        try:
            if orchestrator is None:
                from jarvis_tui.core.orchestrator import Orchestrator

                orchestrator = Orchestrator(self.config, bus=self.bus, clock=self.clock)
            self.orchestrator = orchestrator  # kept at once so quitting during start-up still closes it
            provided_gpu = (self.provided_services or {}).get("gpu")
            if provided_gpu is not None and getattr(orchestrator, "gpu", None) is None:
                orchestrator.gpu = provided_gpu  # the orchestrator starts, routes on and stops this one
                orchestrator.thermal = provided_gpu.thermal_status
            if not getattr(orchestrator, "_started", False):
                await orchestrator.start(monitor=self.monitor)
            elif self.monitor:
                orchestrator.start_health_monitor()
        except Exception as exc:  # noqa: BLE001 - shown in the cockpit, never a traceback
            self.post_message(CoreFailed(_start_error(exc)))
            return
        services = CockpitServices(orchestrator.config, self.bus, live=self.live, clock=self.clock,
                                   enabled=self.enabled_services, provided=self.provided_services)
        self.services = services
        await services.start(orchestrator)
        self.post_message(CoreReady(orchestrator, services))

    def on_core_ready(self, message: CoreReady) -> None:
        self.orchestrator = message.orchestrator
        services: CockpitServices = message.services
        self.status_bar.set(starting=False, total=len(self.orchestrator.nodes),
                            healthy=self.orchestrator.healthy_count(),
                            db_path=self._display_db_path())
        if services.trading is not None:
            self.status_bar.set(trading_available=True, trading_mode=services.trading.mode)
        elif "trading" in services.unavailable:
            self.query_one(PositionsPane).unavailable(services.unavailable["trading"])
        if services.gpu is None:
            self.query_one(GpuPane).show_unavailable(services.unavailable.get("gpu", "no GPU monitor"))
        if services.voice is not None:
            self.status_bar.set(voice=services.voice.status_text)
        self._nodes_dirty = True
        self._refresh_nodes()
        if getattr(self.orchestrator.config, "discovered", False):
            names = ", ".join(self.orchestrator.nodes)
            self.notify(f"No config nodes: using {names}.", title="nodes", markup=False)
        self.call_after_refresh(_freeze_startup_objects)

    def on_core_failed(self, message: CoreFailed) -> None:
        self.core_error = message.message
        self.status_bar.set(starting=False, healthy=0, total=0)
        self.query_one(NodesPane).summary.update(Text(message.message))
        self.notify(message.message, title="cannot start the core", severity="error", timeout=30, markup=False)

    async def action_quit(self) -> None:
        await self.shutdown()
        self.exit(0)

    async def on_unmount(self) -> None:
        # Every way out (Ctrl+C, a crash handler, Pilot leaving run_test) ends here: the store's worker thread
        # is not a daemon, so an unclosed database would keep the process alive after the screen is gone.
        await self.shutdown()

    async def shutdown(self) -> None:
        """Cancel workers, stop the subsystems, close the orchestrator (db, health loop, embedded node)."""
        if self._shutting_down:
            return
        self._shutting_down = True
        if self._nodes_timer is not None:
            self._nodes_timer.stop()
        gc.unfreeze()  # see _freeze_startup_objects: what this app kept alive becomes collectable again
        for pump in self.pumps:
            pump.subscription.close()
        self.workers.cancel_group(self, "ask")
        self.workers.cancel_group(self, "action")
        self.workers.cancel_group(self, "core")
        if self.services is not None:
            await self.services.stop()
        if self.orchestrator is not None:
            try:
                await asyncio.wait_for(self.orchestrator.close(), 10)
            except (Exception, asyncio.CancelledError):  # noqa: BLE001 - best effort at exit
                pass
        self.workers.cancel_all()

    # ------------------------------------------------------------------ bus events

    async def on_event(self, event: Any) -> None:
        if isinstance(event, events.Key):
            self._last_key_at = time.monotonic()
        await super().on_event(event)

    def input_waiting(self) -> bool:
        """A key came in the last ``INPUT_FIRST_S``: its frame goes first.

        Until then streamed text is held back (``AnswerEntry``) and the screen is drawn as soon as it is idle,
        not at the next tick of Textual's frame timer (``CockpitScreen``).  A hand-over of streamed text lays
        the screen out and repaints the chat, 20-40 ms on a small machine, and a key handled in the same frame
        waited for all of it; deferring the text by a frame costs the stream nothing visible.
        """
        return time.monotonic() - self._last_key_at < INPUT_FIRST_S

    def user_active(self) -> bool:
        """A key came in the last ``USER_ACTIVE_S``: the user is typing or moving between panes.

        A key that lands while a hand-over of streamed text is being laid out and drawn (20-40 ms here) waits
        for it, and at 10 hand-overs a second that was a quarter of all keys under a fast stream: the tail of
        the key latency.  While the user presses keys, ``AnswerEntry`` hands text over at ``STREAM_FLUSH_ACTIVE_S``
        instead (docs/cockpit.md, "Keeping it responsive").
        """
        return time.monotonic() - self._last_key_at < USER_ACTIVE_S

    async def on_event_batch(self, batch: EventBatch) -> None:
        for event in batch.events:
            handler = getattr(self, f"_on_{type(event).__name__}", None)
            if handler is not None:
                try:
                    result = handler(event)
                    if asyncio.iscoroutine(result):
                        await result
                except Exception as exc:  # noqa: BLE001 - one bad event must not kill the cockpit
                    self.log.error(f"event {type(event).__name__}: {exc!r}")

    def _on_NodeStatusChanged(self, event: NodeStatusChanged) -> None:  # noqa: N802
        self._nodes_dirty = True
        if event.status in ("down", "cooldown"):
            what = "cooling down" if event.status == "cooldown" else "down"
            self.notify(one_line(f"{event.node} is {what}: {event.reason}", 200), title="node",
                        severity="warning", markup=False)
        elif event.status == "up" and event.reason == "":
            pass

    def _on_ErrorRaised(self, event: ErrorRaised) -> None:  # noqa: N802
        self.notify(one_line(f"{event.source}: {event.message}", 200), severity="error", markup=False)

    async def _on_RequestStarted(self, event: RequestStarted) -> None:  # noqa: N802
        entry = self.chat.pending
        if entry is not None and self.asking and event.conversation_id == self.ask_conversation:
            await entry.begin(event.request_id, event.node, event.model)
            self.status_bar.set(busy=f"answering on {event.node}…")

    async def _on_TokenDelta(self, event: TokenDelta) -> None:  # noqa: N802
        entry = self.chat.pending
        if entry is not None and entry.request_id == event.request_id:
            await entry.write(event.text)  # the entry hands it to Markdown and follows, at most every 100 ms

    def _on_RequestFinished(self, event: RequestFinished) -> None:  # noqa: N802
        self._nodes_dirty = True
        entry = self.chat.pending
        if event.outcome != "ok" and event.outcome != "cancelled":
            self.notify(one_line(f"{event.node} failed ({event.outcome}): {event.error}", 200), title="node",
                        severity="warning", markup=False)
            if entry is not None and entry.request_id == event.request_id:
                entry.attempt_failed(event.node, str(event.outcome))

    # commander
    def _on_ConsensusStarted(self, event: Any) -> None:  # noqa: N802
        self.query_one(ConsensusPane).started(event.round_id, event.prompt, event.nodes, event.weights)

    def _on_VoteCast(self, event: Any) -> None:  # noqa: N802
        self.query_one(ConsensusPane).vote(event)

    def _on_ConsensusDecided(self, event: Any) -> None:  # noqa: N802
        self.query_one(ConsensusPane).decided(event)
        if self.asking:
            self.status_bar.set(busy="synthesis…")

    async def _on_SynthesisStarted(self, event: Any) -> None:  # noqa: N802
        """The commander node writes the final answer: it streams into the answer the chat is waiting for."""
        self.query_one(ConsensusPane).synthesis_started(event)
        entry = self.chat.pending
        if entry is not None and self.asking:
            entry.notes = [*entry.notes, "synthesis"]
            await entry.begin(event.request_id, event.node, event.model)
            self.status_bar.set(busy=f"synthesis on {event.node}…")

    def _on_SynthesisFinished(self, event: Any) -> None:  # noqa: N802
        self.query_one(ConsensusPane).synthesis_finished(event)
        if event.error:
            self.notify(one_line(f"synthesis by {event.node}: {event.error}", 200), title="commander",
                        severity="warning", markup=False)

    def _on_BenchStarted(self, event: Any) -> None:  # noqa: N802
        self.bench_totals = {node: 0 for node in event.nodes}
        self.bench_levels = len(event.levels)
        self.query_one(ConsensusPane).bench_progress(0, len(event.nodes) * len(event.levels),
                                                    f"benchmark: {len(event.nodes)} nodes × {len(event.levels)} levels")

    def _on_BenchProgress(self, event: Any) -> None:  # noqa: N802
        totals = getattr(self, "bench_totals", {})
        totals[event.node] = event.done
        total = sum(1 for _ in totals) * getattr(self, "bench_levels", event.total)
        done = sum(totals.values())
        self.query_one(ConsensusPane).bench_progress(
            done, total, f"benchmark {done}/{total}: {event.node} level {event.level} {event.status}")
        self.status_bar.set(busy=f"benchmark {done}/{total}")

    def _on_BenchFinished(self, event: Any) -> None:  # noqa: N802
        scores = ", ".join(f"{node} {pct:.0f}%" for node, pct in event.scores_pct)
        text = f"benchmark done: {scores}" if not event.error else f"benchmark failed: {event.error}"
        self.query_one(ConsensusPane).bench_finished(text)
        self.status_bar.set(busy="")
        self.notify(one_line(text, 200), title="benchmark", markup=False)

    # gpu
    async def _on_GpuReadingsUpdated(self, event: Any) -> None:  # noqa: N802
        await self.query_one(GpuPane).show(event.readings, event.states, event.thermal)

    def _on_ThermalStatusChanged(self, event: Any) -> None:  # noqa: N802
        self._show_thermal_alert(event.node, event.status)

    def _on_GpuThresholdCrossed(self, event: Any) -> None:  # noqa: N802
        """Each card that turns critical is a notification, even on a node that already was."""
        if event.new == "critical":
            self.notify(one_line(f"{event.node} GPU{event.index} ({event.name}) at {event.temperature_c:.0f} °C — "
                                 f"{event.status.recommendation}", 200),
                        title="thermal critical", severity="error", timeout=15, markup=False)
        self._show_thermal_alert(event.node, event.status)

    def _show_thermal_alert(self, node: str, status: Any) -> None:
        """The red line above the prompt: one per critical node, naming its critical cards."""
        if status.status == "critical":
            hot = ", ".join(f"GPU{gpu.index} {gpu.temperature_c:.0f} °C" for gpu in status.hot_gpus
                            if gpu.level == "critical")
            self.thermal_alerts[node] = one_line(
                f"⚠ THERMAL CRITICAL {node}: {hot or f'{status.max_temp or 0:.0f} °C'} — "
                f"prompts are routed around it until it cools", 200)
        else:
            self.thermal_alerts.pop(node, None)
        self.chat.show_thermal_alerts([self.thermal_alerts[name] for name in sorted(self.thermal_alerts)])

    # trading
    def _on_PositionsUpdated(self, event: Any) -> None:  # noqa: N802
        self.query_one(PositionsPane).show_positions(event.mode, event.positions, event.balance)
        self.status_bar.set(trading_mode=event.mode, trading_available=True)

    def _on_SignalsUpdated(self, event: Any) -> None:  # noqa: N802
        self.query_one(PositionsPane).show_signals(event.recent, event.threshold)

    def _on_MarketDataStatus(self, event: Any) -> None:  # noqa: N802
        self.query_one(PositionsPane).set_market(event.available, event.source, event.reason)

    def _on_PositionClosed(self, event: Any) -> None:  # noqa: N802
        self.notify(one_line(f"{event.mode} {event.symbol} {event.side} closed ({event.reason}) "
                             f"at {event.price:g}: {event.net_pnl:+.2f} USDT", 200), title="position",
                    markup=False)

    def _on_TradingModeChanged(self, event: Any) -> None:  # noqa: N802
        self.query_one(PositionsPane).set_mode(event.mode)
        self.status_bar.set(trading_mode=event.mode)
        self.notify(one_line(f"trading mode: {event.mode} {event.reason}", 200), markup=False,
                    severity="warning" if event.mode == "LIVE" else "information")

    # voice
    def _on_VoiceStateChanged(self, event: Any) -> None:  # noqa: N802
        self.status_bar.set(voice=event.status_text, recording=event.state == "recording")

    def _on_VoiceLevel(self, event: Any) -> None:  # noqa: N802
        self.status_bar.set(voice_level=event.level, voice=f"voice: recording {event.recording_s:.0f} s")

    def _on_VoiceError(self, event: Any) -> None:  # noqa: N802
        if event.message not in self.voice_reported:
            self.voice_reported.add(event.message)
            self.notify(one_line(event.message, 200), title="voice", severity="warning", markup=False)

    async def _on_TranscriptReady(self, event: Any) -> None:  # noqa: N802
        command = event.command
        if command is None:
            if event.text.strip():
                await self.submit_prompt(event.text, show_first=True)
            return
        await self.run_voice_command(command)

    async def run_voice_command(self, command: Any) -> None:
        action, arg, rest = command.action, command.arg, (command.rest or "").strip()
        if action == "focus_pane":
            self.focus_pane(VOICE_PANES.get(arg or "", "chat"))
        elif action == "consensus":
            self.ask_consensus(rest)
        elif action == "health_check":
            self.action_health_check()
        elif action == "run_benchmark":
            self.action_run_benchmark()
        elif action == "show_positions":
            self.focus_pane("positions")
        elif action == "close_position":
            self.request_close_position(rest or None)
        elif action == "new_conversation":
            await self.action_new_conversation()
        elif action == "show_help":
            self.action_help()
        elif action == "read_gpu_temps":
            self.speak_gpu_temperatures()
        elif action in ("voice_on", "voice_off", "stop_speaking"):
            self.voice_control(action)
        else:
            self.notify(f"voice command '{action}' is not supported here", markup=False)

    # ------------------------------------------------------------------ nodes pane

    def _refresh_nodes(self) -> None:
        orchestrator = self.orchestrator
        # The timer can fire while the app is torn down (Textual's _shutdown clears is_running first, then closes
        # the screens: widgets lose their component styles, then go; our shutdown runs last, on unmount).
        if self._shutting_down or not self.is_running or orchestrator is None or not getattr(orchestrator, "nodes", None):
            return
        panes = self.query(NodesPane)
        # A pane being removed is still queryable while Textual prunes it children first: its table is detached
        # and has lost its component styles before the pane goes (KeyError 'nodes--up' in one CI run).
        if not panes or not panes.first().table.is_attached:
            return
        rows = orchestrator.node_rows()
        cooling = any((r.get("cooldown_s") or 0) > 0 for r in rows)
        if not self._nodes_dirty and not cooling:
            return
        self._nodes_dirty = False
        histories = {name: list(state.latency_history) for name, state in orchestrator.nodes.items()}
        panes.first().show(rows, histories)
        for status_bar in self.query(StatusBar):
            status_bar.set(healthy=orchestrator.healthy_count(), total=len(rows), starting=False)

    @on(NodesTable.DetailsRequested)
    def show_node_details(self, message: NodesTable.DetailsRequested) -> None:
        from jarvis_tui.ui.screens.node_detail_screen import NodeDetailScreen

        orchestrator = self.orchestrator
        if orchestrator is None or message.node not in orchestrator.nodes:
            return
        row = next(r for r in orchestrator.node_rows() if r["node"] == message.node)
        row["api_key_env"] = orchestrator.nodes[message.node].config.api_key_env
        history = list(orchestrator.nodes[message.node].latency_history)
        self.push_screen(NodeDetailScreen(row, history, self.numbers))

    # ------------------------------------------------------------------ chat

    @on(PromptInput.Submitted)
    async def on_prompt_submitted(self, message: PromptInput.Submitted) -> None:
        await self.submit_prompt(message.text)

    async def submit_prompt(self, text: str, *, task_type: str | None = None, show_first: bool = False) -> None:
        """Show the prompt in the chat and ask the cluster.

        ``show_first``: the frame that shows the prompt is painted before the answer's placeholder is mounted
        and the ask starts, right after it.  A spoken prompt's latency is release -> transcript on screen, and
        mounting the placeholder (~7 ms) and the ask's first steps went ahead of that frame (docs/voice.md).
        """
        if self.orchestrator is None or self.services is None:
            self.notify(self.core_error or "Still starting: nodes are being set up.", severity="warning",
                        markup=False)
            return
        if self._busy_answering():
            return
        self.asking = True
        await self.chat.add_user(text)
        if show_first:
            self._ask_queued = "queued"
            # After the refresh, as a callback of the app itself (the screen runs after-refresh callbacks).
            self.call_after_refresh(self.call_later, self._start_ask, text, task_type)
        else:
            await self._start_ask(text, task_type)

    async def _start_ask(self, text: str, task_type: str | None) -> None:
        cancelled, self._ask_queued = self._ask_queued == "cancelled", ""
        entry = await self.chat.add_pending_answer()
        if cancelled:  # Esc before the ask started: as a cancelled ask ends (on_ask_failed)
            await entry.fail("cancelled")
            self._end_ask()
            return
        self.status_bar.set(busy="routing…")
        self.run_worker(self._ask(text, task_type), name="ask", group="ask", exit_on_error=False)

    def _busy_answering(self) -> bool:
        """One answer at a time: True, after saying so, while the last prompt is still being answered."""
        if self.asking:
            self.notify("Still answering the last prompt (Esc cancels it).", severity="warning")
        return self.asking

    async def _ask(self, prompt: str, task_type: str | None = None) -> None:
        """Worker: one chat exchange through the commander pipeline; streaming comes over the bus.

        The commander classifies, splits code into coder + reviewer, verifies where ``[commander] verify``
        says so, runs the ``consensus`` task type as a round and synthesises; without it (not started, or
        the cockpit runs without subsystems) the orchestrator's routing and fallback answer alone.
        """
        from jarvis_tui.core.orchestrator import NoNodeAvailable
        from jarvis_tui.ui.messages import AskCompleted, AskFailed, AskRouted

        orchestrator = self.orchestrator
        commander = self.services.commander if self.services is not None else None
        conversation_id = self.conversation_id
        try:
            store = orchestrator.store
            if conversation_id is None and store is not None and store._db is not None:
                conversation_id = await store.new_conversation()
            self.post_message(AskRouted(conversation_id, prompt))
            if commander is not None:
                result = await commander.ask(prompt, conversation_id=conversation_id, task_type=task_type)
            else:
                result = await orchestrator.ask(prompt, conversation_id=conversation_id, task_type=task_type)
        except NoNodeAvailable as exc:
            self.post_message(AskFailed(str(exc)))
            return
        except asyncio.CancelledError:
            self.post_message(AskFailed("cancelled", cancelled=True))
            raise
        except Exception as exc:  # noqa: BLE001 - reported in the chat, never a crash
            self.post_message(AskFailed(_start_error(exc)))
            return
        self.post_message(AskCompleted(result))

    def on_ask_routed(self, message: AskRouted) -> None:
        started = message.conversation_id != self.conversation_id  # a conversation is named by its first prompt
        self.conversation_id = message.conversation_id
        self.ask_conversation = message.conversation_id
        if self.chat.pending is not None:
            self.chat.pending.waiting("routing…")
        if started:
            self.chat.set_title(message.conversation_id, one_line(message.prompt, 60))

    async def on_ask_completed(self, message: AskCompleted) -> None:
        result = message.result
        entry = self.chat.pending
        if entry is not None:
            # The attempts are authoritative: a fast fallback can finish before its events reach the pane.
            # A consensus vote cancelled by an early decision is not a failure: it is not listed.
            entry.notes = [f"{a.node} {a.outcome}" for a in result.attempts
                           if str(a.outcome) not in ("ok", "cancelled")]
            await entry.finish(node=result.node, model=result.model, latency_ms=result.latency_ms,
                               tokens_out=result.tokens_out, tokens_per_s=result.tokens_per_s, text=result.answer)
        self._end_ask()
        voice = self.services.voice if self.services else None
        if voice is not None and getattr(voice.settings, "speak_replies", False):
            self.run_worker(voice.speak_reply(result.answer), group="action", exit_on_error=False)

    async def on_ask_failed(self, message: AskFailed) -> None:
        entry = self.chat.pending
        if entry is not None:
            await entry.fail("cancelled" if message.cancelled else message.message)
        self._end_ask()
        if not message.cancelled:
            self.notify(one_line(message.message, 300), title="no answer", severity="error", markup=False)

    def _end_ask(self) -> None:
        self.asking = False
        self.chat.pending = None
        self.status_bar.set(busy="")

    def action_cancel_ask(self) -> None:
        if self.asking:
            if self._ask_queued:
                self._ask_queued = "cancelled"
            self.workers.cancel_group(self, "ask")

    async def action_new_conversation(self) -> None:
        if self.asking:
            self.notify("Wait for the answer (or Esc to cancel) before starting a new conversation.",
                        severity="warning")
            return
        self.conversation_id = None
        await self.chat.clear()
        self.chat.set_title(None)
        self.focus_pane("chat")
        self.notify("New conversation.", timeout=2)

    def action_open_conversations(self) -> None:
        if self.orchestrator is None or self.orchestrator.store is None:
            self.notify("The database is not open yet.", severity="warning")
            return
        self.run_worker(self._load_conversations(), group="action", exit_on_error=False)

    async def _load_conversations(self) -> None:
        from jarvis_tui.ui.messages import ConversationsLoaded

        conversations = await self.orchestrator.store.conversations()
        self.post_message(ConversationsLoaded(conversations))

    def on_conversations_loaded(self, message: ConversationsLoaded) -> None:
        from jarvis_tui.ui.screens.conversations_screen import (
            NEW_ID,
            ConversationsScreen,
        )

        async def chosen(choice: int | str | None) -> None:
            if choice == NEW_ID:
                await self.action_new_conversation()
            elif isinstance(choice, int):
                self.switch_conversation(choice)

        now = None if self.numbers.mask else time.time()
        self.push_screen(ConversationsScreen(message.conversations, self.conversation_id, now), chosen)

    def switch_conversation(self, conversation_id: int) -> None:
        if self.asking:
            self.notify("Wait for the answer before switching.", severity="warning")
            return
        self.run_worker(self._load_conversation(conversation_id), group="action", exit_on_error=False)

    async def _load_conversation(self, conversation_id: int) -> None:
        from jarvis_tui.ui.messages import ConversationLoaded

        messages = await self.orchestrator.store.messages(conversation_id)
        self.post_message(ConversationLoaded(conversation_id, messages))

    async def on_conversation_loaded(self, message: ConversationLoaded) -> None:
        chat = self.chat
        self.conversation_id = message.conversation_id
        await chat.clear()
        title = ""
        for stored in message.messages:
            if stored.role == "user":
                title = title or stored.content
                await chat.add_user(stored.content)
            elif stored.role == "assistant":
                label = answer_label(self.numbers, stored.node or "?", stored.model or "?", stored.latency_ms,
                                     stored.tokens_out, None)
                await chat.add_stored_answer(stored.content, label)
        chat.set_title(message.conversation_id, one_line(title, 60))
        chat.log_view.scroll_end(animate=False)
        self.focus_pane("chat")

    # ------------------------------------------------------------------ panes, focus, zoom

    def _pane(self, pane_id: str) -> Widget:
        return self.query_one(f"#{pane_id}")

    def focus_pane(self, pane_id: str) -> None:
        if pane_id in self.hidden_panes:
            self.toggle_pane(pane_id)
        self._mark_active(pane_id)
        target = self._focus_target(pane_id)
        if target is not None:
            target.focus(scroll_visible=False)  # the panes fit the screen: scrolling to one only costs a layout

    def _mark_active(self, pane_id: str) -> None:
        """Move the ``-active`` class to ``pane_id``.

        In styles/jarvis.tcss ``-active`` styles the pane itself only (its border, and its display when zoomed or
        on a small terminal); no rule styles a descendant through it.  ``set_class`` would restyle each pane's
        whole subtree (~50-150 nodes, tens of ms per key), so the class moves without an update and only the
        panes whose class changed are restyled.
        """
        changed = []
        for other in PANE_IDS:
            pane = self._pane(other)
            if pane.has_class("-active") != (other == pane_id):
                pane.set_class(other == pane_id, "-active", update=False)
                pane.border_title = pane_title(other, active=other == pane_id)
                changed.append(pane)
        if changed:
            self.stylesheet.update_nodes(changed, animate=False)
        self.active_pane = pane_id
        self.query_one(TabStrip).active = pane_id  # repaints its two lines only

    def _focus_target(self, pane_id: str) -> Widget | None:
        pane = self._pane(pane_id)
        if pane_id == "chat":
            return self.chat.input
        for widget in pane.query("*"):
            if widget.focusable and widget.display:
                return widget
        return None

    def action_pane(self, number: int) -> None:
        pane_id = PANE_IDS[number - 1]
        if pane_id == self.active_pane and self._pane(pane_id).has_class("-active") and self.focused is not None \
                and self._pane(pane_id) in self.focused.ancestors_with_self:
            self.action_zoom()  # the number of the pane already focused zooms it
            return
        self.focus_pane(pane_id)

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed
        self.screen.set_class(self.zoomed, "-zoomed")
        self.focus_pane(self.active_pane)

    def toggle_pane(self, pane_id: str) -> None:
        pane = self._pane(pane_id)
        hidden = pane_id not in self.hidden_panes
        if hidden and len(self.hidden_panes) >= len(PANE_IDS) - 1:
            self.notify("At least one pane stays visible.", severity="warning")
            return
        if hidden:
            self.hidden_panes.add(pane_id)
        else:
            self.hidden_panes.discard(pane_id)
        pane.set_class(hidden, "-hidden")
        self.query_one("#panes").set_class(bool(self.hidden_panes), "-some-hidden")
        for other in PANE_IDS:
            self.query_one("#panes").set_class(other in self.hidden_panes, f"-hide-{other}")
        if hidden and self.active_pane == pane_id:
            visible = next(p for p in PANE_IDS if p not in self.hidden_panes)
            self.focus_pane(visible)

    @on(TabStrip.Selected)
    def on_tab_selected(self, event: TabStrip.Selected) -> None:
        event.stop()
        pane_id = event.pane_id
        if pane_id != self.active_pane:
            self.focus_pane(pane_id)

    def on_descendant_focus(self, event: Any) -> None:
        widget = event.widget if hasattr(event, "widget") else None
        if widget is None:
            return
        for pane_id in PANE_IDS:
            if self._pane(pane_id) in widget.ancestors_with_self:
                if pane_id != self.active_pane or not self._pane(pane_id).has_class("-active"):
                    self._mark_active(pane_id)
                return

    def action_help(self) -> None:
        from jarvis_tui.ui.chat_pane import ChatPane as _Chat
        from jarvis_tui.ui.chat_pane import PromptInput as _Input
        from jarvis_tui.ui.positions_pane import SignalsTable
        from jarvis_tui.ui.screens.help_screen import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        app_bindings = [b for b in self.BINDINGS if isinstance(b, Binding)]
        app_bindings.insert(2, Binding("ctrl+p", "command_palette", "Command palette"))
        app_bindings.append(Binding("tab, shift+tab", "focus", "Next / previous widget"))
        sections = [
            ("Everywhere", [b for b in app_bindings if b.description]),
            ("Chat input", list(_Input.BINDINGS) + [Binding("up, down", "history", "Prompt history")]),
            ("Chat", list(_Chat.BINDINGS)),
            ("Nodes table", list(NodesTable.BINDINGS)),
            ("Positions", list(PositionsTable.BINDINGS) + list(SignalsTable.BINDINGS)),
        ]
        extra = ("Command palette (Ctrl+P): ask with consensus, health check now, run the benchmark, new / switch "
                 "conversation, close a position, kill switch, go LIVE, focus / zoom / hide a pane, change the theme.\n"
                 f"Push-to-talk ({PTT_KEY}): press to start recording, press again to stop; it also stops on "
                 "silence and after 30 s.")
        self.push_screen(HelpScreen(sections, extra))

    # ------------------------------------------------------------------ background actions

    def action_health_check(self) -> None:
        if self.orchestrator is None:
            self.notify("Still starting.", severity="warning")
            return
        self.status_bar.set(busy="health check…")
        self.run_worker(self._health_check(), name="health", group="action", exit_on_error=False)

    async def _health_check(self) -> None:
        from jarvis_tui.ui.messages import ActionDone

        results = await self.orchestrator.health_check()
        healthy = sum(1 for r in results.values() if r.ok)
        self.post_message(ActionDone(f"health check: {healthy}/{len(results)} nodes up",
                                     "information" if healthy else "warning"))

    def on_action_done(self, message: ActionDone) -> None:
        self._nodes_dirty = True
        self._refresh_nodes()
        self.status_bar.set(busy="")
        self.notify(message.text, severity=message.severity, markup=False)  # type: ignore[arg-type]

    def ask_consensus(self, prompt: str | None = None) -> None:
        text = (prompt if prompt is not None else self.chat.input.text).strip()
        if not text:
            self.notify("Type the question in the chat input first, then run \"Ask with consensus\".",
                        severity="warning")
            self.focus_pane("chat")
            return
        commander = self.services.commander if self.services else None
        if commander is None:
            reason = self.services.unavailable.get("commander", "starting") if self.services else "starting"
            self.notify(f"Consensus is unavailable: {reason}", severity="warning", markup=False)
            return
        if self._busy_answering():  # checked before the input is cleared, so the question is not lost
            return
        if prompt is None:
            self.chat.input.clear()
        self.focus_pane("consensus")
        # A chat exchange of the consensus task type: the question and the final answer (the commander
        # node's streamed synthesis, else the verdict) land in the conversation and in SQLite, the votes
        # fill this pane live, and Esc cancels the round like any answer.
        self.call_later(self.submit_prompt, text, task_type="consensus")

    def action_run_benchmark(self) -> None:
        commander = self.services.commander if self.services else None
        if commander is None:
            reason = self.services.unavailable.get("commander", "starting") if self.services else "starting"
            self.notify(f"The benchmark is unavailable: {reason}", severity="warning", markup=False)
            return
        self.focus_pane("consensus")
        self.status_bar.set(busy="benchmark…")
        self.run_worker(self._benchmark(), name="bench", group="action", exit_on_error=False)

    async def _benchmark(self) -> None:
        from jarvis_tui.ui.bench_proposal import ProposalReady
        from jarvis_tui.ui.messages import ActionDone

        try:
            report = await self.services.commander.bench()
        except Exception as exc:  # noqa: BLE001
            self.post_message(ActionDone(f"benchmark failed: {one_line(str(exc), 200)}", "error"))
            return
        scores = ", ".join(f"{name} {summary.score_pct:.0f}%" for name, summary in report.summaries().items())
        self.post_message(ActionDone(f"benchmark done: {scores}"))
        self.post_message(ProposalReady(report))

    # benchmark proposal: shown after a cockpit benchmark, applied to the config file and the live orchestrator

    def on_proposal_ready(self, message: ProposalReady) -> None:
        proposal = message.report.proposal
        self.bench_proposal = proposal if proposal is not None and proposal.has_changes else None
        if self.bench_proposal is None:
            self.notify("The benchmark proposes no change to weights or routes.", title="benchmark")
        else:
            self.action_apply_bench_proposal()

    def action_apply_bench_proposal(self) -> None:
        from jarvis_tui.ui.bench_proposal import cannot_apply_reason
        from jarvis_tui.ui.screens.proposal_screen import ProposalScreen

        proposal = self.bench_proposal
        if proposal is None:
            self.notify("No benchmark proposal to apply: run the benchmark first (palette: Run benchmark).",
                        severity="warning")
            return
        config = self.orchestrator.config if self.orchestrator is not None else self.config
        reason = cannot_apply_reason(config)

        def chosen(apply: bool | None) -> None:
            if apply and reason is None:
                self.status_bar.set(busy="applying the proposal…")
                self.run_worker(self._write_proposal(Path(config.path), proposal), group="action",
                                exit_on_error=False)

        self.push_screen(ProposalScreen(proposal, config_path=config.path, cannot_apply=reason), chosen)

    async def _write_proposal(self, path: Path, proposal: Any) -> None:
        from jarvis_tui.ui.bench_proposal import write_proposal

        self.post_message(await write_proposal(path, proposal))

    def on_proposal_applied(self, message: ProposalApplied) -> None:
        from jarvis_tui.ui.bench_proposal import apply_live
        from jarvis_tui.ui.messages import ActionDone

        weights, routes = apply_live(self.orchestrator, message.proposal) if self.orchestrator is not None else (0, 0)
        if self.bench_proposal is message.proposal:
            self.bench_proposal = None
        self.post_message(ActionDone(f"proposal applied: {weights} weight(s), {routes} route(s) in "
                                     f"{message.config_path}; backup {message.backup.name}"))

    def on_proposal_failed(self, message: ProposalFailed) -> None:
        from jarvis_tui.ui.messages import ActionDone

        self.post_message(ActionDone(one_line(message.message, 300), "error"))

    @on(PositionsTable.CloseRequested)
    def on_close_requested(self, message: PositionsTable.CloseRequested) -> None:
        self.request_close_position(message.position_id, message.symbol)

    def _trading_or_refuse(self) -> Any:
        """The trading service, or None after a notification saying why it is unavailable."""
        trading = self.services.trading if self.services else None
        if trading is None:
            reason = self.services.unavailable.get("trading", "starting") if self.services else "starting"
            self.notify(f"Trading is unavailable: {reason}", severity="warning", markup=False)
        return trading

    def _confirm_then(self, screen: Any, work: Any) -> None:
        """Push a ConfirmScreen; on yes, run ``work()`` (a coroutine) in the action group."""

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.run_worker(work(), group="action", exit_on_error=False)

        self.push_screen(screen, confirmed)

    async def _trading_call(self, failed: str, call: Any, done: Any) -> None:
        """Worker: await one trading call; report ``done(result)`` or ``failed: error`` (never a traceback)."""
        from jarvis_tui.ui.messages import ActionDone

        try:
            result = await call
        except Exception as exc:  # noqa: BLE001 - TradingRefused and exchange errors are shown, not raised
            self.post_message(ActionDone(f"{failed}: {one_line(str(exc), 200)}", "error"))
            return
        self.post_message(ActionDone(*done(result)))

    def request_close_position(self, position: str | None = None, symbol: str | None = None) -> None:
        from jarvis_tui.ui.screens.confirm_screen import ConfirmScreen

        trading = self._trading_or_refuse()
        if trading is None:
            return
        pane = self.query_one(PositionsPane)
        if position is None:
            table = pane.table
            if pane.positions and table.row_count and table.cursor_row >= 0:
                key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
                if key in pane.positions:
                    position = key
            if position is None and len(pane.positions) == 1:
                position = next(iter(pane.positions))
        if position is None:
            self.notify("Select a position in the Positions pane first.", severity="warning")
            self.focus_pane("positions")
            return
        view = pane.positions.get(position)
        label = symbol or (view.symbol if view else position)
        self._confirm_then(ConfirmScreen(f"Close the {pane.mode} position {label}?", yes="Close"),
                           lambda: self._trading_call("close refused", trading.close_position(position),
                                                      lambda _result: ("position closed",)))

    @on(PositionsTable.KillRequested)
    def request_kill_switch(self, _message: Any = None) -> None:
        from jarvis_tui.ui.screens.confirm_screen import ConfirmScreen

        trading = self._trading_or_refuse()
        if trading is None:
            return
        mode = trading.mode

        def done(report: Any) -> tuple[str, str]:
            text = (f"kill switch ({mode}): closed {len(report.closed)} position(s), cancelled "
                    f"{len(report.cancelled)} order(s)" + (f"; errors: {'; '.join(report.errors)}"
                                                          if report.errors else ""))
            return one_line(text, 300), "warning" if report.errors else "information"

        self._confirm_then(
            ConfirmScreen(f"KILL SWITCH ({mode}): close every position and cancel every order?\n"
                          "Type KILL to confirm.", require="KILL", yes="Kill all"),
            lambda: self._trading_call("kill switch failed", trading.kill("KILL"), done))

    def request_go_live(self) -> None:
        from jarvis_tui.trading.guards import TradingRefused
        from jarvis_tui.ui.screens.confirm_screen import ConfirmScreen

        trading = self._trading_or_refuse()
        if trading is None:
            return
        if trading.mode == "LIVE" and not trading.live_read_only:
            self.notify("Trading is LIVE already.", severity="warning")
            return
        try:  # refuse before asking for LIVE when the flag or the keys are missing (enable_live checks again)
            trading.live_credentials()
        except TradingRefused as exc:
            self.notify(one_line(str(exc), 300), title="go live", severity="error", markup=False)
            return
        self._confirm_then(
            ConfirmScreen("Go LIVE: every order from now on is a REAL order on the exchange, with real money.\n"
                          "Type LIVE to confirm.", require="LIVE", yes="Go LIVE"),
            lambda: self._trading_call("go live refused", trading.enable_live("LIVE"),
                                       lambda _none: ("LIVE: orders are real now", "warning")))

    @on(SignalsTable.TakeRequested)
    def on_take_requested(self, message: SignalsTable.TakeRequested) -> None:
        from jarvis_tui.ui.screens.confirm_screen import ConfirmScreen

        trading = self._trading_or_refuse()
        if trading is None:
            return
        signal = message.signal
        mode = trading.mode

        def done(view: Any) -> tuple[str]:
            self.call_later(self._show_positions_now)
            return (f"signal taken: {mode} {view.symbol} {view.side} opened at {view.entry_price:g}",)

        self._confirm_then(
            ConfirmScreen(f"Take the signal {signal.symbol} {signal.side} (score {signal.score:.0f}): open a {mode} "
                          "position?", yes="Take"),
            lambda: self._trading_call("take signal refused", trading.take_signal(signal.id), done))

    @on(SignalsTable.CommentRequested)
    async def on_comment_requested(self, message: SignalsTable.CommentRequested) -> None:
        """The ``trading`` route's nodes comment on a signal in the chat: advice only, no order is placed."""
        from jarvis_tui.paths import prompt_text

        signal = message.signal
        trading = self.services.trading if self.services else None
        mode = trading.mode if trading is not None else "PAPER"
        prompt = prompt_text("signal_comment").format(
            mode=mode, symbol=signal.symbol, side=signal.side, score=signal.score, breakout=signal.breakout,
            volume=signal.volume, momentum=signal.momentum, price=signal.price)
        self.focus_pane("chat")
        await self.submit_prompt(prompt, task_type="trading")

    @on(PositionsPane.SignalsShown)
    def on_signals_shown(self, _message: PositionsPane.SignalsShown) -> None:
        """The signals list needs the scanner: start the market data (and so ccxt) if it is still idle."""
        ensure = getattr(self.services.trading if self.services else None, "ensure_market_data", None)
        if ensure is not None:
            self.run_worker(ensure(), group="trading-market", exit_on_error=False)

    def _show_positions_now(self) -> None:
        trading = self.services.trading if self.services else None
        pane = self.query_one(PositionsPane)
        if trading is not None:
            pane.show_positions(trading.mode, tuple(trading.positions()), trading.balance())
        pane.show_positions_list()

    # ------------------------------------------------------------------ voice

    def action_push_to_talk(self) -> None:
        services = self.services
        if services is None:
            self.notify("Still starting.", severity="warning")
            return
        if services.voice is None or not services.voice.started:
            self.status_bar.set(voice="voice: starting…")
            self.run_worker(self._start_voice_then_press(), group="action", exit_on_error=False)
            return
        outcome = services.voice.press_ptt()
        if outcome in ("failed", "off"):
            self.notify(one_line(services.voice.status_text, 200), title="voice", severity="warning", markup=False)
        self.status_bar.set(voice=services.voice.status_text)

    async def _start_voice_then_press(self) -> None:
        from jarvis_tui.ui.messages import ActionDone

        try:
            ok = await self.services.start_voice(self.orchestrator)
        except Exception as exc:  # noqa: BLE001 - missing packages, no PortAudio...
            self.post_message(ActionDone(f"voice unavailable: {one_line(str(exc), 200)}", "warning"))
            return
        voice = self.services.voice
        if not ok:
            self.post_message(ActionDone(one_line(voice.status_text, 200), "warning"))
            return
        voice.press_ptt()

    def voice_control(self, action: str) -> None:
        voice = self.services.voice if self.services else None
        if voice is None:
            return
        if action == "voice_off":
            self.run_worker(voice.stop(), group="action", exit_on_error=False)
        elif action == "voice_on":
            self.run_worker(voice.start(), group="action", exit_on_error=False)
        elif action == "stop_speaking":
            voice.stop_speaking()

    def speak_gpu_temperatures(self) -> None:
        gpu = self.services.gpu if self.services else None
        voice = self.services.voice if self.services else None
        if gpu is None:
            sentence = "No GPU telemetry."
        else:
            parts = []
            for node, readings in gpu.readings().items():
                for reading in readings:
                    if reading.temperature_c is not None:
                        parts.append(f"{node} GPU {reading.index}: {reading.temperature_c:.0f} degrees")
            sentence = "; ".join(parts) or "No GPU temperatures yet."
        self.notify(sentence, title="GPU temperatures", markup=False)
        if voice is not None:
            self.run_worker(voice.speak(sentence), group="action", exit_on_error=False)

    # ------------------------------------------------------------------ command palette

    def palette_commands(self) -> list[PaletteCommand]:
        from jarvis_tui.ui.commands import PaletteCommand

        commands = [
            PaletteCommand("Ask with consensus", lambda: self.ask_consensus(),
                           "weighted consensus across the consensus route, on the text in the chat input"),
            PaletteCommand("Health check now", self.action_health_check, "check every node now"),
            PaletteCommand("Run benchmark", self.action_run_benchmark, "the 10-level benchmark on every node"),
            PaletteCommand("Apply benchmark proposal", self.action_apply_bench_proposal,
                           "review the last benchmark's weights and routes, then write them to the config"),
            PaletteCommand("New conversation", lambda: self.run_worker(self.action_new_conversation()),
                           "start an empty conversation"),
            PaletteCommand("Switch conversation", self.action_open_conversations, "pick a saved conversation"),
            PaletteCommand("Close position", lambda: self.request_close_position(),
                           "close the selected position, after confirmation"),
            PaletteCommand("Kill switch: close every position, cancel every order", self.request_kill_switch,
                           "type KILL to confirm (same as K in the Positions pane)"),
            PaletteCommand("Go LIVE (real orders)", self.request_go_live,
                           "only with jarvis --live and the exchange keys; type LIVE to confirm"),
            PaletteCommand("Toggle zoom", self.action_zoom, "show only the active pane, or all of them"),
            PaletteCommand("Push to talk", self.action_push_to_talk, f"same as {PTT_KEY}"),
            PaletteCommand("Show keys (help)", self.action_help, "every key binding"),
        ]
        for pane_id, title in PANES:
            commands.append(PaletteCommand(f"Focus pane: {title}", lambda p=pane_id: self.focus_pane(p)))
            commands.append(PaletteCommand(f"Zoom pane: {title}", lambda p=pane_id: self.zoom_pane(p)))
            verb = "Show" if pane_id in self.hidden_panes else "Hide"
            commands.append(PaletteCommand(f"{verb} pane: {title}", lambda p=pane_id: self.toggle_pane(p)))
        for name in sorted(self.available_themes):
            commands.append(PaletteCommand(f"Theme: {name}", lambda n=name: setattr(self, "theme", n),
                                           "change the colour theme"))
        return commands

    def zoom_pane(self, pane_id: str) -> None:
        self.focus_pane(pane_id)
        if not self.zoomed:
            self.action_zoom()

    def watch_theme(self, _theme: str) -> None:
        # Component styles (status dots, PnL colours) are resolved when cells are built: rebuild them.
        self._nodes_dirty = True
        try:
            for bar in self.query(StatusBar):
                bar._render_state()
        except Exception:  # noqa: BLE001 - no screen yet
            pass


def _freeze_startup_objects() -> None:
    """Keep the start-up heap out of the cyclic garbage collector.

    Once the core and the subsystems are up, the process holds ~1M long-lived objects (Textual, the node
    clients, ccxt for trading).  A full (generation 2) collection scans them all: 140-200 ms on the 2-core dev
    box, every few seconds while answers stream -- each one a frozen screen and the whole tail of the key
    latency (docs/benchmarks.md).  One collection now, then ``gc.freeze()`` moves the survivors to the
    permanent generation; objects created later are collected as before.  ``shutdown`` unfreezes, so an app
    run inside a longer process (Pilot tests) does not pin its objects.
    """
    gc.collect()
    gc.freeze()


def _start_error(exc: BaseException) -> str:
    """One line for a start-up failure, with the hint the headless face gives for the same error."""
    name = type(exc).__name__
    message = one_line(str(exc), 300)
    if name == "EmbeddedUnavailable":
        return ("no node configured or found on the default local ports, and the embedded node cannot start: "
                + message)
    if name == "StoreError":
        return f"database error: {message}"
    return f"{name}: {message}" if message else name
