"""jarvis-tui: a terminal cockpit and headless CLI over one orchestrator core."""

__version__ = "0.1.0"
