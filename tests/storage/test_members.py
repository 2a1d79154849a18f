"""Members, invites and counters on a real SQLite file (M-03, M-13, T-02, T-03, T-26)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.domain.errors import Conflict, NotFound
from bot.domain.models import Lang, MemberState, NewInvite, Role
from tests.storage.conftest import T0, Repos

TG, TG2, TG3 = 987654321, 123456789, 555000111
DAY = timedelta(hours=24)


async def test_invite_creates_an_unlinked_member_bound_to_region_and_role(
    repos: Repos,
) -> None:
    _, member_id = await repos.invite("Cóndor-7", role=Role.COORDINATOR, lang=Lang.QU)
    member = await repos.members.get(member_id)
    assert member is not None
    assert (member.role, member.codename, member.regions) == (
        Role.COORDINATOR,
        "Cóndor-7",
        ("Pichari",),
    )
    assert (member.lang, member.lang_chosen) == (Lang.QU, True)
    assert member.state is MemberState.ACTIVE
    assert not member.telegram_linked
    assert not member.active
    assert await repos.members.telegram_id(member_id) is None


async def test_redeem_links_once_and_replay_returns_none(repos: Repos) -> None:
    code, member_id = await repos.invite("Cóndor-7")
    member = await repos.invites.redeem(code, TG, T0)
    assert member is not None
    assert member.id == member_id
    assert member.active
    assert await repos.members.telegram_id(member_id) == TG
    assert await repos.members.by_telegram_id(TG) == member
    assert await repos.invites.redeem(code, TG, T0) is None  # same account
    assert await repos.invites.redeem(code, TG2, T0) is None  # another account
    assert await repos.members.by_telegram_id(TG2) is None


async def test_expired_invite_cannot_be_redeemed(repos: Repos) -> None:
    code, member_id = await repos.invite("Cóndor-7", ttl=timedelta(hours=1))
    assert await repos.invites.redeem(code, TG, T0 + timedelta(hours=1)) is None  # at expiry
    member = await repos.members.get(member_id)
    assert member is not None
    assert not member.telegram_linked


async def test_invite_just_before_expiry_works(repos: Repos) -> None:
    code, _ = await repos.invite("Cóndor-7", ttl=timedelta(hours=1))
    assert await repos.invites.redeem(code, TG, T0 + timedelta(minutes=59)) is not None


async def test_revoked_and_unknown_invites_cannot_be_redeemed(repos: Repos) -> None:
    code, _ = await repos.invite("Cóndor-7")
    await repos.db.execute("UPDATE invites SET revoked = 1")
    assert await repos.invites.redeem(code, TG, T0) is None
    assert await repos.invites.redeem("A" * 43, TG, T0) is None


async def test_concurrent_redeems_of_one_code_yield_exactly_one_success(repos: Repos) -> None:
    """T-03: two (or more) accounts pressing the same link at the same moment."""
    code, member_id = await repos.invite("Cóndor-7")
    accounts = [TG, TG2, TG3, 42, 43]
    results = await asyncio.gather(*(repos.invites.redeem(code, a, T0) for a in accounts))
    winners = [a for a, r in zip(accounts, results, strict=True) if r is not None]
    assert len(winners) == 1
    assert await repos.members.telegram_id(member_id) == winners[0]
    for loser in set(accounts) - set(winners):
        assert await repos.members.by_telegram_id(loser) is None


async def test_concurrent_redeems_of_two_codes_by_one_account_link_once(repos: Repos) -> None:
    first, _ = await repos.invite("Puma-1")
    second, _ = await repos.invite("Puma-2")
    results = await asyncio.gather(
        repos.invites.redeem(first, TG, T0), repos.invites.redeem(second, TG, T0)
    )
    assert sum(r is not None for r in results) == 1
    linked = [m for m in await repos.members.list_all() if m.telegram_linked]
    assert len(linked) == 1


async def test_linked_account_cannot_redeem_a_second_invite(repos: Repos) -> None:
    await repos.member("Puma-1", TG)
    code, member_id = await repos.invite("Puma-2")
    assert await repos.invites.redeem(code, TG, T0) is None
    # The second invite was not consumed: its rightful owner can still use it.
    member = await repos.invites.redeem(code, TG2, T0)
    assert member is not None
    assert member.id == member_id


async def test_taken_codename_and_unknown_region_are_refused(repos: Repos) -> None:
    await repos.invite("Cóndor-7")
    with pytest.raises(Conflict):
        await repos.invite("Cóndor-7")
    with pytest.raises(NotFound):
        await repos.invite("Puma", region="Pangoa")
    assert [m.codename for m in await repos.members.list_all()] == ["Cóndor-7"]
    assert await repos.db.fetchall("SELECT member_id FROM invites") != []
    assert len(await repos.db.fetchall("SELECT member_id FROM invites")) == 1


async def test_codename_lookup_is_exact(repos: Repos) -> None:
    member = await repos.member("Cóndor-7", TG)
    assert await repos.members.by_codename("Cóndor-7") == member
    assert await repos.members.by_codename("cóndor-7") is None
    assert await repos.members.by_codename("Condor-7") is None
    assert await repos.members.get(999) is None


async def test_in_regions_filters_role_state_link_and_region(repos: Repos) -> None:
    informant = await repos.member("Puma-1", 1)
    coordinator = await repos.member("Puma-2", 2, role=Role.COORDINATOR)
    elsewhere = await repos.member("Puma-3", 3, region="Llochegua")
    suspended = await repos.member("Puma-4", 4)
    await repos.members.set_state(suspended.id, MemberState.SUSPENDED)
    unlinked = await repos.member("Puma-5", 5)
    await repos.members.unlink(unlinked.id)
    await repos.invite("Puma-6")  # never redeemed

    informants = await repos.members.in_regions(["Pichari"], [Role.INFORMANT])
    assert [m.id for m in informants] == [informant.id]
    both = await repos.members.in_regions(["Pichari"], [Role.INFORMANT, Role.COORDINATOR])
    assert [m.id for m in both] == [informant.id, coordinator.id]
    everywhere = await repos.members.in_regions(["Pichari", "Llochegua"], [Role.INFORMANT])
    assert [m.id for m in everywhere] == [informant.id, elsewhere.id]
    assert await repos.members.in_regions([], [Role.INFORMANT]) == []
    assert await repos.members.in_regions(["Pichari"], []) == []
    assert await repos.members.in_regions(["Pangoa"], list(Role)) == []


async def test_unlink_crypto_shreds_the_link(repos: Repos) -> None:
    member = await repos.member("Cóndor-7", TG)
    await repos.members.unlink(member.id)
    assert await repos.members.by_telegram_id(TG) is None
    assert await repos.members.telegram_id(member.id) is None
    row = await repos.db.fetchone(
        "SELECT telegram_enc, telegram_hmac, linked_at, state FROM members WHERE id = ?",
        (member.id,),
    )
    assert tuple(row) == (None, None, None, "unlinked")  # type: ignore[arg-type]
    after = await repos.members.get(member.id)
    assert after is not None
    assert after.codename == "Cóndor-7"  # the claims stay under the pseudonym
    assert not after.active


async def test_set_lang_state_and_blocked(repos: Repos) -> None:
    member = await repos.member("Cóndor-7", TG)
    await repos.members.set_lang(member.id, Lang.QU)
    await repos.members.set_blocked(member.id, True)
    await repos.members.set_state(member.id, MemberState.SUSPENDED)
    after = await repos.members.get(member.id)
    assert after is not None
    assert (after.lang, after.lang_chosen, after.blocked, after.state) == (
        Lang.QU,
        True,
        True,
        MemberState.SUSPENDED,
    )
    assert await repos.members.by_telegram_id(TG) == after  # found whatever its state
    await repos.members.set_blocked(member.id, False)
    again = await repos.members.get(member.id)
    assert again is not None
    assert not again.blocked


async def test_list_all_is_ordered_by_id(repos: Repos) -> None:
    for name in ("Zorro", "Águila", "Mono"):
        await repos.invite(name)
    assert [m.codename for m in await repos.members.list_all()] == ["Zorro", "Águila", "Mono"]


async def test_multi_region_member_lists_regions_by_name(repos: Repos) -> None:
    member = await repos.member("Cóndor-7", TG, role=Role.COORDINATOR, region="Pichari")
    region = await repos.regions.get("llochegua")
    assert region is not None
    await repos.db.execute(
        "INSERT INTO member_regions (member_id, region_id) VALUES (?, ?)", (member.id, region.id)
    )
    after = await repos.members.get(member.id)
    assert after is not None
    assert after.regions == ("Llochegua", "Pichari")


async def test_counters_count_within_a_window_and_restart_after(repos: Repos) -> None:
    c = repos.counters
    assert await c.current(TG, "invite_failure", T0, DAY) == 0
    assert [await c.hit(TG, "invite_failure", T0 + timedelta(hours=h), DAY) for h in range(3)] == [
        1,
        2,
        3,
    ]
    assert await c.current(TG, "invite_failure", T0 + timedelta(hours=23), DAY) == 3
    assert await c.current(TG, "stranger_reply", T0, DAY) == 0  # kinds are separate
    assert await c.current(TG2, "invite_failure", T0, DAY) == 0  # accounts are separate
    assert await c.current(TG, "invite_failure", T0 + DAY, DAY) == 0  # window is fixed
    assert await c.hit(TG, "invite_failure", T0 + DAY, DAY) == 1
    assert await c.current(TG, "invite_failure", T0 + DAY, DAY) == 1


async def test_counters_are_keyed_by_hmac_not_by_id(repos: Repos) -> None:
    await repos.counters.hit(TG, "stranger_reply", T0, DAY)
    [row] = await repos.db.fetchall("SELECT account_hmac FROM account_counters")
    assert str(TG) not in row["account_hmac"]
    assert row["account_hmac"] == repos.keys.index("account", str(TG))


@pytest.mark.parametrize(
    "evil", ["'; DROP TABLE claims;--", '" OR 1=1 --', "%", "_", "\\", "Robert'); --"]
)
async def test_sql_ish_codenames_round_trip_literally(repos: Repos, evil: str) -> None:
    """T-26: parameterised SQL only; the text is data, the tables survive."""
    member = await repos.member(evil, TG)
    assert member.codename == evil
    assert await repos.members.by_codename(evil) == member
    assert await repos.members.by_codename("%") in (None, member)  # no LIKE wildcard
    if evil != "%":
        assert await repos.members.by_codename("%") is None
    tables = {r["name"] for r in await repos.db.fetchall("SELECT name FROM sqlite_master")}
    assert {"claims", "members", "regions", "audit"} <= tables


async def test_sql_ish_region_names_round_trip(repos: Repos) -> None:
    for evil in ("'; DROP TABLE claims;--", "%", "_"):
        region = await repos.regions.add(evil, T0)
        assert await repos.regions.get(evil) == region
    assert await repos.regions.get("P%") is None
    assert [r.name for r in await repos.regions.list_all()] == sorted(
        ["%", "'; DROP TABLE claims;--", "Llochegua", "Pichari", "_"], key=str.lower
    )  # NOCASE collation


async def test_region_names_are_unique_case_insensitively(repos: Repos) -> None:
    with pytest.raises(Conflict):
        await repos.regions.add("PICHARI", T0)
    found = await repos.regions.get("pichari")
    assert found is not None
    assert found.name == "Pichari"


async def test_invite_for_new_invite_object_directly(repos: Repos) -> None:
    """The repository accepts a domain ``NewInvite`` and keeps only the code's hash."""
    member_id = await repos.invites.create(
        NewInvite(Role.ADMIN, "Pichari", "Jefe", None, 1), "C" * 43, T0 + DAY, T0
    )
    row = await repos.db.fetchone("SELECT code_hmac, expires_at FROM invites")
    assert row is not None
    assert "C" * 43 not in row["code_hmac"]
    assert row["code_hmac"] == repos.keys.index("invite", "C" * 43)
    member = await repos.invites.redeem("C" * 43, TG, T0)
    assert member is not None
    assert (member.id, member.role) == (member_id, Role.ADMIN)


async def test_suspended_member_to_be_cannot_redeem_and_stays_suspended(repos: Repos) -> None:
    """Suspending a pending member cancels the invite instead of being undone by it."""
    code, member_id = await repos.invite("Cóndor-7")
    await repos.members.set_state(member_id, MemberState.SUSPENDED)
    assert await repos.invites.redeem(code, TG, T0) is None
    member = await repos.members.get(member_id)
    assert member is not None
    assert (member.state, member.telegram_linked) == (MemberState.SUSPENDED, False)
    await repos.members.set_state(member_id, MemberState.ACTIVE)  # reinstated: works again
    redeemed = await repos.invites.redeem(code, TG, T0)
    assert redeemed is not None
    assert redeemed.active
