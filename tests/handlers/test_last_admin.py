"""The last active administrator stays (issue #16.3): neither suspended nor unlinked, from
the chat as from the CLI (``tests/cli/test_cli_last_admin.py``).

In the chat an administrator never acts on themselves, so the rule bites when two
administrators act on each other at the same moment: the check and the change are one
transaction, and one of them stays active. Real application and SQLite file (the world of
``test_members_admin``: two administrators, Condor and Vicuna).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.domain.models import MemberState, Role
from bot.domain.outbox import Outcome, SendResult
from bot.domain.registrations import ChangeRefused, Refusal
from tests.handlers.test_members_admin import World
from tests.handlers.test_members_admin import world as world  # noqa: PLC0414 - the fixture


async def test_two_administrators_suspending_each_other_at_once_leave_one_active(
    world: World,
) -> None:
    registrations = world.bot.services.registrations
    condor = await registrations.member("Condor")
    vicuna = await registrations.member("Vicuna")
    # Both presses judged with the actor as the update found them (both active then).
    results = await asyncio.gather(
        registrations.suspend_by(condor, vicuna.id),
        registrations.suspend_by(vicuna, condor.id),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, ChangeRefused)]
    assert [r.reason for r in refused] == [Refusal.LAST_ADMIN], results
    states = {await world.state("Condor"), await world.state("Vicuna")}
    assert states == {MemberState.ACTIVE, MemberState.SUSPENDED}
    assert sorted(r for *_, r in world.audit("member_suspend")) == [
        "ok",
        "refused:last_admin",
    ]


class _NoEraser:
    """The ``ChatEraser`` port; a refused unlink must not reach it."""

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        raise AssertionError("a refused unlink erased messages")

    async def clear_commands(self, chat_id: int) -> None:
        raise AssertionError("a refused unlink cleared the menu")


async def test_the_last_active_administrator_is_not_unlinked_from_the_chat(
    world: World,
) -> None:
    registrations = world.bot.services.registrations
    condor = await registrations.member("Condor")  # as the press found him: active
    vicuna = await registrations.member("Vicuna")
    await registrations.suspend("Condor")  # meanwhile, from the server
    with pytest.raises(ChangeRefused) as refused:
        await world.bot.services.safety.unlink_confirmed(condor, vicuna.id, _NoEraser())
    assert refused.value.reason is Refusal.LAST_ADMIN
    assert (await registrations.member("Vicuna")).telegram_linked
    assert world.audit("member_unlink") == [
        ("admin", "member_unlink", f"member:{vicuna.id}", "refused:last_admin")
    ]


class _MeetingEraser:
    """The ``ChatEraser`` port where two unlinks meet: each erases only once both got past
    the check made before erasing, the moment the old code judged the last administrator."""

    def __init__(self) -> None:
        self.arrived = 0
        self.both = asyncio.Event()

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        del chat_id, message_ids
        return SendResult(Outcome.SENT)

    async def clear_commands(self, chat_id: int) -> None:
        del chat_id
        self.arrived += 1
        if self.arrived == 2:
            self.both.set()
        async with asyncio.timeout(10):
            await self.both.wait()


async def test_two_administrators_unlinking_each_other_at_once_leave_one_linked(
    world: World,
) -> None:
    registrations = world.bot.services.registrations
    safety = world.bot.services.safety
    condor = await registrations.member("Condor")
    vicuna = await registrations.member("Vicuna")
    eraser = _MeetingEraser()
    results = await asyncio.gather(
        safety.unlink_confirmed(condor, vicuna.id, eraser),
        safety.unlink_confirmed(vicuna, condor.id, eraser),
        return_exceptions=True,
    )
    assert eraser.both.is_set()  # both presses got past the early check
    refused = [r for r in results if isinstance(r, ChangeRefused)]
    assert [r.reason for r in refused] == [Refusal.LAST_ADMIN], results
    after = [await registrations.member(name) for name in ("Condor", "Vicuna")]
    assert {m.telegram_linked for m in after} == {True, False}
    [kept] = [m for m in after if m.telegram_linked]
    # The erase before the refused write took the menu away; it is queued back.
    assert world.query(
        "SELECT 1 FROM outbox WHERE idempotency_key LIKE ?", (f"menu:{kept.id}:admin:%",)
    )
    assert sorted(r for *_, r in world.audit("member_unlink")) == [
        "refused:last_admin",
        "remote",
    ]


async def test_two_administrators_demoting_each_other_at_once_leave_one(world: World) -> None:
    registrations = world.bot.services.registrations
    condor = await registrations.member("Condor")
    vicuna = await registrations.member("Vicuna")
    results = await asyncio.gather(
        registrations.set_role_by(condor, vicuna.id, Role.COORDINATOR),
        registrations.set_role_by(vicuna, condor.id, Role.COORDINATOR),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, ChangeRefused)]
    assert [r.reason for r in refused] == [Refusal.LAST_ADMIN], results
    roles = {(await registrations.member(name)).role for name in ("Condor", "Vicuna")}
    assert roles == {Role.ADMIN, Role.COORDINATOR}
