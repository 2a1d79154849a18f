"""Telegram adapters: ``register`` adds every handler in an explicit, commented order."""

from __future__ import annotations

from handlers.context import BotApplication


def register(application: BotApplication) -> None:
    """Add every handler; gatekeeping groups first, then features, then the error handler."""
    del application  # features register here as they land


async def on_startup(application: BotApplication) -> None:
    """Start jobs and the outbox sender once services exist (R-12)."""
    del application


async def on_shutdown(application: BotApplication) -> None:
    """Stop the sender, letting in-flight sends finish."""
    del application
