"""Administrators manage registrations from the command line (issue #16.3).

Listing and searching members, suspending and reactivating, changing role and regions,
unlinking a lost or seized phone (the claims stay with the codename, a new invite re-links),
listing and revoking unused invites, renaming and removing regions: each with ``--json``,
each audited, each checked through the services rather than by reading its own output.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.errors import InviteRejected, NotAllowed
from bot.domain.models import Member, MemberState, Role
from bot.domain.pin import PinPass
from bot.services.container import Services
from tests.cli.harness import Result, members, with_services
from tests.cli.test_cli import HEADER, claims_of, create_invite, redeem
from tests.test_docs_commands import cli_commands


@pytest.fixture
def world(chaski: Callable[..., Result], installed: None) -> dict[str, Member]:
    """Puma (registered informant), Condor (invite not redeemed), Kuntur (coordinator)."""
    del installed
    for name in ("Ayacucho", "Pichari"):
        assert chaski("region", "add", name).code == 0
    puma = redeem(create_invite(chaski, "Puma")["code"], 7_300_000_001)
    create_invite(chaski, "Condor")
    kuntur = chaski(
        "invite", "create", "--role", "coordinator", "--region", "Ayacucho",
        "--region", "Pichari", "--codename", "Kuntur", "--json",
    )  # fmt: skip
    assert kuntur.code == 0, kuntur.err
    coordinator = redeem(json.loads(kuntur.out)["code"], 7_300_000_002)
    return {"Puma": puma, "Kuntur": coordinator}


def _listed(chaski: Callable[..., Result], *options: str) -> list[str]:
    result = chaski("members", "list", "--json", *options)
    assert result.code == 0, result.err
    return [member["codename"] for member in json.loads(result.out)]


def _actions(chaski: Callable[..., Result]) -> list[tuple[str, str | None, str]]:
    entries = json.loads(chaski("audit", "list", "--json").out)
    return [(e["action"], e["target"], e["result"]) for e in entries]


def test_members_are_found_by_state_role_region_and_text(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    del world
    assert _listed(chaski) == ["Puma", "Condor", "Kuntur"]
    assert _listed(chaski, "--registered") == ["Puma", "Kuntur"]
    assert _listed(chaski, "--not-redeemed") == ["Condor"]
    assert _listed(chaski, "--role", "coordinator") == ["Kuntur"]
    assert _listed(chaski, "--region", "pichari") == ["Kuntur"]
    assert _listed(chaski, "--search", "ON") == ["Condor"]
    assert _listed(chaski, "--blocked") == []
    assert chaski("members", "list", "--blocked").out == "No members match.\n"


def test_a_suspended_member_can_do_nothing_until_reactivated(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    puma = world["Puma"]
    result = chaski("members", "suspend", "puma", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"id": puma.id, "state": "suspended"}
    [stored] = [m for m in members() if m.id == puma.id]
    assert stored.state is MemberState.SUSPENDED

    async def opens_claims(services: Services) -> None:
        fresh = await services.directory.uow.members.get(puma.id)
        assert fresh is not None
        await services.claims.list_for(fresh, PinPass())

    with pytest.raises(NotAllowed):
        with_services(opens_claims)
    assert _listed(chaski, "--state", "suspended") == ["Puma"]
    again = chaski("members", "suspend", "Puma")
    assert again.code == 2
    assert "not active" in again.err

    assert chaski("members", "reactivate", "Puma").out == "Reactivated (audited).\n"
    with_services(opens_claims)  # allowed again
    assert _actions(chaski)[-2:] == [
        ("member_suspend", f"member:{puma.id}", "ok"),
        ("member_reactivate", f"member:{puma.id}", "ok"),
    ]


def test_a_suspended_members_invite_stops_working(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    del world
    code = create_invite(chaski, "Vicuna")["code"]
    assert chaski("members", "suspend", "Vicuna").code == 0
    with pytest.raises(InviteRejected):
        redeem(code, 7_300_000_009)


def test_role_and_regions_change_and_are_audited(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    kuntur = world["Kuntur"]
    refused = chaski("members", "set-role", "Kuntur", "--role", "informant")
    assert refused.code == 2
    assert "exactly one region" in refused.err
    regions = chaski("members", "set-regions", "Kuntur", "--region", "pichari", "--json")
    assert json.loads(regions.out) == {"id": kuntur.id, "regions": ["Pichari"]}
    role = chaski("members", "set-role", "Kuntur", "--role", "informant")
    assert role.code == 0, role.err
    [stored] = [m for m in members() if m.id == kuntur.id]
    assert (stored.role, stored.regions) == (Role.INFORMANT, ("Pichari",))
    unknown = chaski("members", "set-regions", "Kuntur", "--region", "Cusco")
    assert unknown.code == 2
    assert _actions(chaski)[-4:] == [  # refusals are audited too
        ("member_set_role", f"member:{kuntur.id}", "refused:one_region"),
        ("member_set_regions", f"member:{kuntur.id}", "ok"),
        ("member_set_role", f"member:{kuntur.id}", "role:informant"),
        ("member_set_regions", f"member:{kuntur.id}", "refused:unknown_region"),
    ]


def test_the_last_administrator_keeps_the_role(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    """Demoting the only active administrator would leave nobody to manage members in the
    chat: refused and audited; with a second administrator it is allowed."""
    del world

    def admin(codename: str, telegram_id: int) -> None:
        made = chaski(
            "invite", "create", "--role", "admin", "--region", "Ayacucho",
            "--codename", codename, "--json",
        )  # fmt: skip
        redeem(json.loads(made.out)["code"], telegram_id)

    admin("Jefa", 7_300_000_011)
    create_invite(chaski, "Nunca", "--role", "admin")  # never redeemed: cannot manage
    refused = chaski("members", "set-role", "Jefa", "--role", "coordinator")
    assert refused.code == 2
    assert "last active administrator" in refused.err
    [jefa] = [m for m in members() if m.codename == "Jefa"]
    assert jefa.role is Role.ADMIN
    admin("Otra", 7_300_000_012)
    assert chaski("members", "set-role", "Jefa", "--role", "coordinator").code == 0
    assert [(a, r) for a, _, r in _actions(chaski) if a == "member_set_role"] == [
        ("member_set_role", "refused:last_admin"),
        ("member_set_role", "role:coordinator"),
    ]


def test_members_idle_for_n_days_are_listed_by_their_last_day_seen(
    chaski: Callable[..., Result], world: dict[str, Member], env: Path
) -> None:
    """Only a day is kept (no time); a member who never used the bot counts from the day
    they were enrolled; one use today takes the member off the list."""
    today = datetime.now(UTC).date()
    with closing(sqlite3.connect(env / "data" / "chaski.sqlite3")) as conn, conn:
        conn.execute(
            "UPDATE members SET last_seen_day = ? WHERE id = ?",
            ((today - timedelta(days=10)).isoformat(), world["Puma"].id),
        )
        conn.execute(  # Condor was enrolled long ago and never came
            "UPDATE members SET created_at = '2020-01-01T00:00:00+00:00' WHERE id NOT IN (?, ?)",
            (world["Puma"].id, world["Kuntur"].id),
        )
    assert _listed(chaski, "--idle-days", "7") == ["Puma", "Condor"]
    assert _listed(chaski, "--idle-days", "30") == ["Condor"]
    assert _listed(chaski, "--idle-days", "30", "--registered") == []
    docs = json.loads(chaski("members", "list", "--json", "--idle-days", "7").out)
    assert [doc["last_seen"] for doc in docs] == [(today - timedelta(days=10)).isoformat(), None]
    assert "SEEN" in chaski("members", "list", "--idle-days", "7").out.splitlines()[0]

    async def uses_the_bot(services: Services) -> None:
        [member] = [m for m in await services.directory.list_members() if m.id == world["Puma"].id]
        assert member is not None
        await services.registration.seen(member)

    with_services(uses_the_bot)
    assert _listed(chaski, "--idle-days", "7") == ["Condor"]
    with closing(sqlite3.connect(env / "data" / "chaski.sqlite3")) as conn:
        [(stored,)] = conn.execute(
            "SELECT last_seen_day FROM members WHERE id = ?", (world["Puma"].id,)
        ).fetchall()
    assert stored == today.isoformat()  # a day, never a time
    with closing(sqlite3.connect(env / "data" / "chaski.sqlite3")) as conn, conn:
        for not_a_day in ("2026-03-14T10:00:00+00:00", "2026-03-14 10:00", "14/03/2026"):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute("UPDATE members SET last_seen_day = ?", (not_a_day,))
    for bad in ("0", "x", "3651"):
        refused = chaski("members", "list", "--idle-days", bad)
        assert refused.code == 2


def test_unlinking_a_seized_phone_keeps_the_claims_and_a_new_invite_relinks(
    chaski: Callable[..., Result],
    world: dict[str, Member],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    puma = world["Puma"]
    claims = tmp_path / "claims.csv"
    claims.write_text(
        HEADER + "R-2016-0001,Puma,Operación Halcón,2016-02-10,Ayacucho,1500,approved,,,\n",
        encoding="utf-8",
    )
    assert chaski("claims", "import", str(claims)).code == 0

    async def chatted(services: Services) -> None:  # what the bot sent to that phone
        for message_id in (101, 102, 103):
            await services.safety.record_sent(7_300_000_001, message_id)

    with_services(chatted)
    result = chaski("members", "unlink", "Puma", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"id": puma.id, "state": "unlinked", "deletions_queued": 3}
    # Handed to the running bot: nothing was refused by Telegram, so nothing says so.
    assert "refused" not in result.err + caplog.text

    async def deletions(services: Services) -> int:
        counts = (await services.outbox_admin.status()).counts
        return sum(n for (_, kind), n in counts.items() if kind == "deletion")

    assert with_services(deletions) == 1  # one wipe row of 3 ids, for the running bot
    [stored] = [m for m in members() if m.id == puma.id]
    assert (stored.state, stored.telegram_linked) == (MemberState.UNLINKED, False)
    assert _actions(chaski)[-1] == ("member_unlink", f"member:{puma.id}", "operator")
    twice = chaski("members", "unlink", "Puma")
    assert twice.code == 2
    assert "no linked account" in twice.err

    relinked = redeem(create_invite(chaski, "Puma")["code"], 7_300_000_003)  # a new phone
    assert relinked.id == puma.id
    assert [claim.reference for claim in claims_of(relinked)] == ["R-2016-0001"]


def test_unused_invites_are_listed_and_revoked(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    del world
    listing = json.loads(chaski("invite", "list", "--json").out)
    assert [(i["codename"], i["role"], i["expired"]) for i in listing] == [
        ("Condor", "informant", False)
    ]
    assert "code" not in listing[0]
    text = chaski("invite", "list").out
    assert text.splitlines()[0].split() == [
        "CODENAME", "ROLE", "REGIONS", "CREATED", "EXPIRES", "EXPIRED"
    ]  # fmt: skip
    code = create_invite(chaski, "Taruka")["code"]
    revoked = chaski("invite", "revoke", "taruka", "--json")
    assert json.loads(revoked.out) == {"revoked": 1}
    with pytest.raises(InviteRejected):
        redeem(code, 7_300_000_004)
    assert [i["codename"] for i in json.loads(chaski("invite", "list", "--json").out)] == [
        "Condor"
    ]
    nothing = chaski("invite", "revoke", "Puma")
    assert nothing.code == 2
    assert "no unused invite" in nothing.err
    assert ("invite_revoke", "revoked:1") in [(a, r) for a, _, r in _actions(chaski)]


def test_regions_are_renamed_and_only_unused_ones_removed(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    del world
    renamed = chaski("region", "rename", "pichari", "Pichari-Kimbiri", "--json")
    assert renamed.code == 0, renamed.err
    assert json.loads(renamed.out)["name"] == "Pichari-Kimbiri"
    [kuntur] = [m for m in members() if m.codename == "Kuntur"]
    assert kuntur.regions == ("Ayacucho", "Pichari-Kimbiri")
    taken = chaski("region", "rename", "Ayacucho", "PICHARI-KIMBIRI")
    assert taken.code == 2
    assert "taken" in taken.err
    in_use = chaski("region", "remove", "Ayacucho")
    assert in_use.code == 2
    assert "still used" in in_use.err
    assert chaski("region", "add", "Cusco").code == 0
    assert chaski("region", "remove", "cusco").out == "Region removed (audited).\n"
    names = [r["name"] for r in json.loads(chaski("region", "list", "--json").out)]
    assert names == ["Ayacucho", "Pichari-Kimbiri"]
    actions = [a for a, _, _ in _actions(chaski)]
    assert actions[-3:] == ["region_rename", "region_add", "region_remove"]


def test_an_unknown_codename_is_one_line(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    del world
    for command in ("suspend", "reactivate", "unlink"):
        result = chaski("members", command, "Nadie")
        assert result.code == 2
        assert result.err == "chaski: no member with that codename (see chaski members list)\n"


#: The commands of issue #16 (items 3, 5, 6), each with its own ``--help``.
NEW_PATHS = [
    ["members", "suspend"],
    ["members", "reactivate"],
    ["members", "set-role"],
    ["members", "set-regions"],
    ["members", "unlink"],
    ["invite", "list"],
    ["invite", "revoke"],
    ["region", "rename"],
    ["region", "remove"],
    ["claims", "export"],
    ["report"],
    ["report", "operations"],
    ["audit"],
    ["audit", "verify"],
    ["audit", "list"],
    ["keys", "rotate-audit"],
]


@pytest.mark.parametrize("path", NEW_PATHS, ids=" ".join)
def test_every_new_command_has_help_and_touches_nothing(
    path: list[str], chaski: Callable[..., Result], env: Path
) -> None:
    result = chaski(*path, "--help")
    assert result.code == 0
    assert result.out.startswith(f"usage: {' '.join(['chaski', *path])}")
    assert result.err == ""
    assert not (env / "data").exists()
    assert not (env / "keys").exists()


def test_every_registration_command_has_json(
    chaski: Callable[..., Result], world: dict[str, Member]
) -> None:
    """Issue #16.3: every command that manages members, invites and regions has --json."""
    del world
    registration = {
        " ".join(path): options
        for path, options in cli_commands().items()
        if path[0] in {"members", "invite", "region"}
    }
    assert "members reset-pin" in registration
    assert [p for p, options in registration.items() if "--json" not in options] == []
    added = json.loads(chaski("region", "add", "Cusco", "--json").out)
    assert set(added) == {"id", "name"}
    assert added["name"] == "Cusco"
    reset = chaski("members", "reset-pin", "kuntur", "--json")
    assert reset.code == 0, reset.err
    assert json.loads(reset.out) == {"id": members()[2].id, "pin_cleared": True}
