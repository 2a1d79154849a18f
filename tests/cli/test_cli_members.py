"""Members and invites from the command line (issue #14.7): re-enrolment under the same
codename, coordinators of several regions, and the PIN reset for a locked-out administrator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bot.domain.errors import InviteRejected
from bot.domain.models import Member, MemberState, Role
from bot.domain.outbox import Outcome, SendResult
from bot.services.container import Services
from bot.services.pin import PinOutcome
from tests.cli.harness import Result, members, with_services
from tests.cli.test_cli import create_invite, redeem

ADMIN_ID = 7_100_000_001


class NoChat:
    """The unlink's chat side (``ChatEraser``): nothing to delete in these tests."""

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        del chat_id, message_ids
        return SendResult(Outcome.SENT)

    async def clear_commands(self, chat_id: int) -> None:
        del chat_id


@pytest.fixture
def regions(chaski: Callable[..., Result], installed: None) -> tuple[str, str]:
    del installed
    for name in ("Ayacucho", "Pichari"):
        assert chaski("region", "add", name).code == 0
    return "Ayacucho", "Pichari"


def wipe(member: Member) -> None:
    async def go(services: Services) -> None:
        await services.safety.wipe_self(member, NoChat())

    with_services(go)


def test_an_unlinked_member_is_re_enrolled_under_the_same_codename(
    chaski: Callable[..., Result], regions: tuple[str, str]
) -> None:
    del regions
    first = create_invite(chaski, "Puma")
    member = redeem(first["code"], 7_200_000_001)
    wipe(member)  # the panic button: unlinked, a new invite is needed
    [before] = members()
    assert before.state is MemberState.UNLINKED

    text = chaski(
        "invite", "create", "--role", "informant", "--region", "Ayacucho", "--codename", "Puma"
    )
    assert text.out.startswith(
        "New invite for the existing informant in Ayacucho; any older unused code no longer"
        " works.\n"
    )
    again = create_invite(chaski, "Puma")
    relinked = redeem(again["code"], 7_200_000_002)
    assert relinked.id == member.id  # same member, same claims
    assert [(m.codename, m.state, m.telegram_linked) for m in members()] == [
        ("Puma", MemberState.ACTIVE, True)
    ]


def test_a_lost_invite_is_replaced_and_the_old_code_stops_working(
    chaski: Callable[..., Result], regions: tuple[str, str]
) -> None:
    del regions
    lost = create_invite(chaski, "Puma")
    replacement = create_invite(chaski, "Puma")
    with pytest.raises(InviteRejected):
        redeem(lost["code"], 7_200_000_003)
    assert redeem(replacement["code"], 7_200_000_004).codename == "Puma"
    taken = chaski(
        "invite", "create", "--role", "informant", "--region", "Ayacucho", "--codename", "Puma"
    )
    assert taken.code == 2
    assert "codename: already taken" in taken.err


def test_repeated_region_makes_a_coordinator_of_both(
    chaski: Callable[..., Result], regions: tuple[str, str]
) -> None:
    first, second = regions
    result = chaski(
        "invite",
        "create",
        "--role",
        "coordinator",
        "--region",
        first,
        "--region",
        second,
        "--codename",
        "Kuntur",
    )
    assert result.code == 0, result.err
    assert "Invite created for a new coordinator in Ayacucho, Pichari." in result.out
    [member] = members()
    assert member.regions == ("Ayacucho", "Pichari")

    informant = chaski(
        "invite",
        "create",
        "--role",
        "informant",
        "--region",
        first,
        "--region",
        second,
        "--codename",
        "Puma",
    )
    assert informant.code == 2
    assert "an informant belongs to exactly one region" in informant.err
    assert [m.codename for m in members()] == ["Kuntur"]


def set_pin_and_lock(member: Member) -> None:
    async def go(services: Services) -> None:
        pin = services.pin
        await pin.start_change(member)
        assert (await pin.submit(member, "402718")).outcome is PinOutcome.CONFIRM
        assert (await pin.submit(member, "402718")).outcome is PinOutcome.SET
        for _ in range(10):
            await pin.ask(member)
            await pin.submit(member, "000000")

    with_services(go)


def has_pin(member: Member) -> bool:
    async def go(services: Services) -> bool:
        return await services.pin.has_pin(member)

    return with_services(go)


def test_reset_pin_frees_a_sole_administrator_locked_out(
    chaski: Callable[..., Result], regions: tuple[str, str], tmp_path: Path
) -> None:
    del regions, tmp_path
    code = chaski(
        "invite", "create", "--role", "admin", "--region", "Ayacucho", "--codename", "Jefa"
    )
    assert code.code == 0
    admin = redeem(code.out.split("Code:")[1].split()[0], ADMIN_ID)
    assert admin.role is Role.ADMIN
    set_pin_and_lock(admin)
    assert has_pin(admin)

    result = chaski("members", "reset-pin", "jefa")  # any case
    assert result.code == 0, result.err
    assert result.out == (
        "PIN cleared (audited): the member creates a new one with /pin in the chat.\n"
    )
    assert not has_pin(admin)

    unknown = chaski("members", "reset-pin", "Nadie")
    assert unknown.code == 2
    assert unknown.err == "chaski: no member with that codename (see chaski members list)\n"


FORMULAS = ["=HYPERLINK(1)", "+Puma", "-Condor", "@Zorro"]


def test_names_a_spreadsheet_would_run_are_printed_as_text(
    chaski: Callable[..., Result], regions: tuple[str, str], tmp_path: Path
) -> None:
    """#11.10 (OWASP CSV injection): a codename or region starting with = + - @ gets a leading
    ' in tables and TSV, so pasting the output into a spreadsheet runs nothing; other names
    and JSON are printed exactly."""
    del regions
    assert chaski("region", "add", "--", "=Sur").code == 0
    for codename in [*FORMULAS[:2], "Kuntur"]:
        result = chaski(
            "invite", "create", "--role", "informant", "--region", "=Sur",
            f"--codename={codename}",
        )  # fmt: skip
        assert result.code == 0, result.err
    names = tmp_path / "codenames.txt"
    names.write_text("\n".join([*FORMULAS[2:], "Taruka"]) + "\n", encoding="utf-8")

    batch = chaski(
        "invite", "create-batch", "--role", "informant", "--region", "Ayacucho",
        "--codenames", str(names),
    )  # fmt: skip
    listing = chaski("members", "list")
    regions_table = chaski("region", "list")

    assert batch.code == 0, batch.err
    assert [line.split("\t")[0] for line in batch.out.splitlines()] == [
        "'-Condor",
        "'@Zorro",
        "Taruka",
    ]
    rows = [line.split() for line in listing.out.splitlines()[1:]]
    assert [(row[2], row[4]) for row in rows] == [
        ("'=HYPERLINK(1)", "'=Sur"),
        ("'+Puma", "'=Sur"),
        ("Kuntur", "'=Sur"),
        ("'-Condor", "Ayacucho"),
        ("'@Zorro", "Ayacucho"),
        ("Taruka", "Ayacucho"),
    ]
    assert "'=Sur" in regions_table.out.split()
    exact = json.loads(chaski("members", "list", "--json").out)
    assert [member["codename"] for member in exact] == [*FORMULAS[:2], "Kuntur", *FORMULAS[2:],
                                                        "Taruka"]  # fmt: skip
