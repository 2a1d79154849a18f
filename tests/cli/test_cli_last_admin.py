"""The last active administrator is neither suspended nor unlinked (issue #16.3).

As for a role change: without an active administrator nobody could manage members in the
chat. ``chaski members suspend`` and ``members unlink`` refuse it with a reason, change
nothing and audit the refusal; with a second administrator both are allowed. The chat's
doors go through the same rule (``tests/services/test_last_admin.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.domain.models import Member, MemberState
from tests.cli.harness import Result, members
from tests.cli.test_cli import redeem
from tests.cli.test_cli_registrations import _actions
from tests.cli.test_cli_registrations import world as world  # noqa: PLC0414 - the fixture


def _admin(chaski: Callable[..., Result], codename: str, telegram_id: int) -> None:
    made = chaski(
        "invite", "create", "--role", "admin", "--region", "Ayacucho",
        "--codename", codename, "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    redeem(json.loads(made.out)["code"], telegram_id)


def _jefa() -> Member:
    [jefa] = [m for m in members() if m.codename == "Jefa"]
    return jefa


def test_the_last_administrator_is_neither_suspended_nor_unlinked(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    del world
    _admin(chaski, "Jefa", 7_300_000_021)
    for command in ("suspend", "unlink"):
        refused = chaski("members", command, "Jefa")
        assert refused.code == 2, refused.out
        assert "last active administrator" in refused.err
    jefa = _jefa()
    assert (jefa.state, jefa.telegram_linked) == (MemberState.ACTIVE, True)

    _admin(chaski, "Otra", 7_300_000_022)
    assert chaski("members", "unlink", "Jefa").code == 0
    assert _jefa().state is MemberState.UNLINKED
    target = f"member:{jefa.id}"
    assert [
        (action, result)
        for action, who, result in _actions(chaski)
        if who == target and action in {"member_suspend", "member_unlink"}
    ] == [
        ("member_suspend", "refused:last_admin"),
        ("member_unlink", "refused:last_admin"),
        ("member_unlink", "operator"),
    ]
