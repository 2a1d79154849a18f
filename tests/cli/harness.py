"""Running ``chaski`` in-process and reading back what it did, shared by the CLI tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.config import Settings
from bot.domain.models import Member
from bot.domain.ports import Clock
from bot.root.wiring import open_wiring
from bot.services.container import Services

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Result:
    """What one ``chaski`` invocation did."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def with_services(action: Callable[[Services], Awaitable[T]], clock: Clock | None = None) -> T:
    """Open the same database the CLI used and run ``action`` on its services."""

    async def go() -> T:
        wiring = await open_wiring(Settings.from_env(need_token=False), clock=clock)
        try:
            return await action(wiring.services)
        finally:
            await wiring.close()

    return asyncio.run(go())


def members() -> list[Member]:
    """Every member, as the CLI's database holds them."""
    return with_services(lambda services: services.directory.list_members())
