"""Typed per-application data and callback context (docs/architecture.md §5)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.i18n import Catalogs
from bot.services.charts import ChartProcess
from bot.services.container import Services
from handlers.transport.pacing import RateLimitArgs


@dataclass(slots=True)
class BotData:
    """Filled in ``post_init``; handlers reach services and catalogs only through this."""

    _services: Services | None = None
    _catalogs: Catalogs | None = None
    #: Edits running after their handler returned (``handlers.transport.send.edit_later``).
    follow_ups: set[asyncio.Task[None]] = field(default_factory=set)
    #: Draws ``/informe``'s image in a child process, one at a time (``handlers.report``).
    charts: ChartProcess = field(default_factory=ChartProcess)

    @property
    def services(self) -> Services:
        """The services; raises if used before ``post_init`` ran."""
        if self._services is None:
            raise RuntimeError("services used before post_init")
        return self._services

    @property
    def catalogs(self) -> Catalogs:
        """The translation catalogs; raises if used before ``post_init`` ran."""
        if self._catalogs is None:
            raise RuntimeError("catalogs used before post_init")
        return self._catalogs

    def attach(self, services: Services, catalogs: Catalogs) -> None:
        """Install the services and catalogs (composition root only)."""
        self._services = services
        self._catalogs = catalogs


class BotContext(CallbackContext[ExtBot[RateLimitArgs], dict[Any, Any], dict[Any, Any], BotData]):
    """Callback context with typed access to our services and catalogs."""

    @property
    def services(self) -> Services:
        """Shortcut for ``bot_data.services``."""
        return self.bot_data.services

    @property
    def catalogs(self) -> Catalogs:
        """Shortcut for ``bot_data.catalogs``."""
        return self.bot_data.catalogs


BotApplication = Application[
    ExtBot[RateLimitArgs],
    BotContext,
    dict[Any, Any],
    dict[Any, Any],
    BotData,
    JobQueue[BotContext],
]
