"""Regions and one-time invites (M-03): TTL bounds, validation, code shape and uniqueness."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from bot.domain.errors import ValidationError
from bot.domain.models import Lang, MemberState, Role
from bot.services.invites import MAX_TTL_HOURS, InviteService
from bot.services.registration import INVITE_CODE
from tests.services.fakes import (
    T0,
    FakeClock,
    FakeUnitOfWork,
    InMemoryAudit,
    InMemoryInvites,
    InMemoryMembers,
    InMemoryRegions,
)


@dataclass
class World:
    """An invite service over fresh fakes with one region, Pichari."""

    members: InMemoryMembers
    regions: InMemoryRegions
    invites: InMemoryInvites
    audit: InMemoryAudit
    service: InviteService


@pytest.fixture
def world() -> World:
    members = InMemoryMembers()
    regions = InMemoryRegions().seed("Pichari")
    invites = InMemoryInvites(members, regions)
    audit = InMemoryAudit()
    service = InviteService(
        FakeUnitOfWork(members=members, regions=regions, invites=invites, audit=audit), FakeClock()
    )
    return World(members, regions, invites, audit, service)


@pytest.mark.parametrize("ttl", [-1, 0, MAX_TTL_HOURS + 1, 10_000])
async def test_ttl_out_of_bounds_is_refused_before_storing(world: World, ttl: int) -> None:
    with pytest.raises(ValidationError, match="ttl-hours"):
        await world.service.create(
            role=Role.INFORMANT, region="Pichari", codename="Puma", ttl_hours=ttl
        )
    assert world.invites.calls == []
    assert world.audit.entries == []


@pytest.mark.parametrize("ttl", [1, 24, MAX_TTL_HOURS])
async def test_ttl_within_bounds_sets_expiry(world: World, ttl: int) -> None:
    issued = await world.service.create(
        role=Role.INFORMANT, region="Pichari", codename="Puma", ttl_hours=ttl
    )
    assert issued.expires_at == T0 + timedelta(hours=ttl)
    assert world.invites.invites[issued.code].expires_at == issued.expires_at


async def test_default_ttl_is_the_maximum(world: World) -> None:
    issued = await world.service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")
    assert issued.expires_at == T0 + timedelta(hours=72)


async def test_created_member_is_bound_to_role_region_and_codename(world: World) -> None:
    issued = await world.service.create(
        role=Role.COORDINATOR, region="  pichari ", codename=" Jose\u0301 ", lang=Lang.QU
    )
    member = world.members.members[issued.member_id]
    assert member.role is Role.COORDINATOR
    assert member.regions == ("Pichari",)  # canonical name, whatever the case typed
    assert member.codename == "José"  # stripped and NFC
    assert (member.lang, member.lang_chosen) == (Lang.QU, True)
    assert not member.telegram_linked


async def test_without_lang_the_member_must_choose(world: World) -> None:
    issued = await world.service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")
    member = world.members.members[issued.member_id]
    assert (member.lang, member.lang_chosen) == (Lang.ES, False)


async def test_create_is_audited_without_code_or_codename(world: World) -> None:
    issued = await world.service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")
    [entry] = world.audit.entries
    assert (entry.action, entry.result, entry.target) == (
        "invite_create",
        "ok",
        f"member:{issued.member_id}",
    )
    assert issued.code not in repr(entry)
    assert "Puma" not in repr(entry)


async def test_unknown_region_is_refused(world: World) -> None:
    with pytest.raises(ValidationError, match="region: unknown"):
        await world.service.create(role=Role.INFORMANT, region="Pangoa", codename="Puma")
    assert world.invites.calls == []


async def test_region_vanishing_meanwhile_is_a_validation_error() -> None:
    """The store says NotFound (region deleted between the check and the insert)."""
    members = InMemoryMembers()
    service_regions = InMemoryRegions().seed("Pichari")
    invites = InMemoryInvites(members, InMemoryRegions())
    service = InviteService(
        FakeUnitOfWork(members=members, regions=service_regions, invites=invites), FakeClock()
    )
    with pytest.raises(ValidationError, match="region: unknown"):
        await service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")


async def test_codename_of_a_linked_member_is_refused(world: World) -> None:
    issued = await world.service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")
    await world.invites.redeem(issued.code, 4242, T0)
    with pytest.raises(ValidationError, match="codename: already taken"):
        await world.service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")
    assert len(world.members.members) == 1
    assert len(world.audit.entries) == 1


async def test_unlinked_member_is_re_enrolled_under_the_same_codename(world: World) -> None:
    """Issue #14.7: the docs say "re-enrol with a new invite"; the old code stops working."""
    first = await world.service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")
    world.regions.seed("Pangoa")
    world.members.members[first.member_id] = replace(
        world.members.members[first.member_id], state=MemberState.UNLINKED
    )
    again = await world.service.create(
        role=Role.INFORMANT, region="Pangoa", codename="Puma", lang=Lang.QU
    )
    assert again.member_id == first.member_id
    member = world.members.members[first.member_id]
    assert (member.state, member.regions, member.lang) == (
        MemberState.ACTIVE,
        ("Pangoa",),
        Lang.QU,
    )
    assert world.invites.invites[first.code].revoked
    assert await world.invites.redeem(first.code, 4242, T0) is None
    assert await world.invites.redeem(again.code, 4242, T0) is not None
    assert [entry.result for entry in world.audit.entries] == ["ok", "reenrol"]


@pytest.mark.parametrize("state", [MemberState.SUSPENDED, MemberState.UNLINKED])
async def test_re_enrolment_keeps_suspensions_and_roles(world: World, state: MemberState) -> None:
    first = await world.service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")
    world.members.members[first.member_id] = replace(
        world.members.members[first.member_id], state=state
    )
    role = Role.INFORMANT if state is MemberState.SUSPENDED else Role.COORDINATOR
    with pytest.raises(ValidationError, match="codename: already taken"):
        await world.service.create(role=role, region="Pichari", codename="Puma")
    assert not world.invites.invites[first.code].revoked


async def test_a_coordinator_may_have_several_regions_an_informant_one(world: World) -> None:
    world.regions.seed("Pangoa")
    issued = await world.service.create(
        role=Role.COORDINATOR, region=["Pichari", "pangoa", "PICHARI"], codename="Kuntur"
    )
    assert world.members.members[issued.member_id].regions == ("Pichari", "Pangoa")
    with pytest.raises(ValidationError, match="exactly one region"):
        await world.service.create(
            role=Role.INFORMANT, region=["Pichari", "Pangoa"], codename="Puma"
        )
    with pytest.raises(ValidationError, match="at least one"):
        await world.service.create(role=Role.COORDINATOR, region=[], codename="Atoq")


async def test_region_vanishing_before_a_re_enrolment_is_a_validation_error(
    world: World,
) -> None:
    first = await world.service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")
    world.invites.regions = InMemoryRegions()
    with pytest.raises(ValidationError, match="region: unknown"):
        await world.service.create(role=Role.INFORMANT, region="Pichari", codename="Puma")
    assert not world.invites.invites[first.code].revoked


@pytest.mark.parametrize("codename", ["", "Pu\u202ema", "\u0410na", "x" * 65, "Puma\nAdmin"])
async def test_bad_codename_is_refused_before_storing(world: World, codename: str) -> None:
    with pytest.raises(ValidationError, match="codename"):
        await world.service.create(role=Role.INFORMANT, region="Pichari", codename=codename)
    assert world.invites.calls == []


async def test_codes_are_43_char_base64url_and_unique() -> None:
    members = InMemoryMembers()
    regions = InMemoryRegions().seed("Pichari")
    service = InviteService(
        FakeUnitOfWork(
            members=members, regions=regions, invites=InMemoryInvites(members, regions)
        ),
        FakeClock(),
    )
    codes = set()
    for number in range(1000):
        issued = await service.create(
            role=Role.INFORMANT, region="Pichari", codename=f"Puma-{number}"
        )
        assert len(issued.code) == 43
        assert INVITE_CODE.fullmatch(issued.code)
        codes.add(issued.code)
    assert len(codes) == 1000


async def test_add_region_stores_clean_name_and_audits(world: World) -> None:
    region = await world.service.add_region("  Llochegua ")
    assert region.name == "Llochegua"
    assert await world.regions.get("llochegua") == region
    [entry] = world.audit.entries
    assert (entry.action, entry.result, entry.target) == (
        "region_add",
        "ok",
        f"region:{region.id}",
    )


@pytest.mark.parametrize("name", ["Pichari", "PICHARI", " pichari "])
async def test_add_region_duplicate_is_refused(world: World, name: str) -> None:
    with pytest.raises(ValidationError, match="already exists"):
        await world.service.add_region(name)
    assert len(world.regions.regions) == 1
    assert world.audit.entries == []


@pytest.mark.parametrize("name", ["", "Pi\u200bchari", "\u0420ichari", "R" * 65, "a\x00b"])
async def test_add_region_bad_name_is_refused(world: World, name: str) -> None:
    with pytest.raises(ValidationError, match="region"):
        await world.service.add_region(name)
    assert len(world.regions.regions) == 1
