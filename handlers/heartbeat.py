"""Write the heartbeat ``chaski status`` reads, from what the long poll noticed.

``handlers.transport.polling.PollingRequest`` keeps the monotonic moment of the last answered
``getUpdates`` in memory, nothing else; the heartbeat tick (``handlers.ticks``) turns it
into a time on the services' clock and writes one row every ``BEAT_EVERY_S`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from handlers.context import BotContext
from handlers.transport.polling import PollingRequest


def heartbeat_tick(polling: PollingRequest) -> Callable[[BotContext], Coroutine[Any, Any, None]]:
    """The tick that writes the heartbeat from ``polling``'s last answered poll."""

    async def beat(context: BotContext) -> None:
        services = context.services
        await services.heartbeat.beat(polling.answered(services.clock.now()))

    return beat
