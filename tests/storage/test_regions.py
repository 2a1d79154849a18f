"""Regions in SQLite: what uses a region (every table whose foreign key would refuse its
removal), its removal, and a region change read back with its time (issue #16.3)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from bot.domain.models import MemberState
from bot.domain.registrations import RegionEdit, RegionUsage
from storage.codec import ts
from storage.regions import SqliteRegionEdits
from tests.storage.conftest import T0, Repos


async def test_usage_counts_members_unlinked_too_and_alerts_with_their_help_requests(
    repos: Repos,
) -> None:
    pichari = await repos.regions.get("Pichari")
    llochegua = await repos.regions.get("Llochegua")
    assert pichari is not None
    assert llochegua is not None
    puma = await repos.member("Puma", 7001)
    await repos.member("Kuntur", 7002)
    await repos.members.set_state(puma.id, MemberState.UNLINKED)
    db = repos.db
    async with db.transaction() as conn:
        for alert_id in (1, 2):
            await conn.execute(
                "INSERT INTO alerts (id, creator_id, nonce, text_es_enc, text_qu_enc, severity,"
                " status, created_at) VALUES (?, ?, ?, x'00', x'00', 'info', 'sending', ?)",
                (alert_id, puma.id, f"n{alert_id}", ts(T0)),
            )
        # Alert 1 went to Llochegua; alert 2 elsewhere, but a help request names Llochegua.
        await conn.execute(
            "INSERT INTO alert_regions (alert_id, region_id) VALUES (1, ?)", (llochegua.id,)
        )
        await conn.execute(
            "INSERT INTO help_requests (alert_id, member_id, region_id, created_at)"
            " VALUES (1, ?, ?, ?), (2, ?, ?, ?)",
            (puma.id, llochegua.id, ts(T0), puma.id, llochegua.id, ts(T0)),
        )
    assert await repos.regions.usage() == {
        pichari.id: RegionUsage(members=2),
        llochegua.id: RegionUsage(alerts=2),
    }


async def test_an_unused_region_is_removed_and_a_used_one_is_refused_by_sqlite(
    repos: Repos,
) -> None:
    await repos.member("Puma", 7001)
    pichari = await repos.regions.get("Pichari")
    llochegua = await repos.regions.get("Llochegua")
    assert pichari is not None
    assert llochegua is not None
    await repos.regions.remove(llochegua.id)
    assert [region.name for region in await repos.regions.list_all()] == ["Pichari"]
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await repos.regions.remove(pichari.id)
    assert [region.name for region in await repos.regions.list_all()] == ["Pichari"]


async def test_a_region_change_is_read_back_with_the_time_of_its_last_step(
    repos: Repos,
) -> None:
    puma = await repos.member("Puma", 7001)
    edits = SqliteRegionEdits(repos.db)
    await edits.put(puma.id, RegionEdit(None), T0)
    assert await edits.get(puma.id) == RegionEdit(None, None, T0)
    later = T0 + timedelta(minutes=3)
    await edits.put(puma.id, RegionEdit(None, "Kimbiri"), later)
    assert await edits.get(puma.id) == RegionEdit(None, "Kimbiri", later)
