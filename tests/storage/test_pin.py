"""PIN, prompt, message-id and processed-update storage (M-05, M-07, M-13a, R-09)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.pin import PinPrompt, PinPurpose, Resume
from storage.chat_messages import SqliteChatMessageLog
from storage.database import Database
from storage.inbound import SqliteInboundLog
from storage.keys import KeyMaterial
from storage.pin import SqlitePinRepository
from tests.storage.conftest import T0, Repos

HASH = "scrypt$15$8$1$00112233445566778899aabbccddeeff$" + "ab" * 32


def _raw_files(db_path: Path) -> bytes:
    return b"".join(
        path.read_bytes()
        for path in db_path.parent.iterdir()
        if path.name.startswith(db_path.name)
    )


async def test_pin_hashes_are_sealed_and_round_trip(repos: Repos, db_path: Path) -> None:
    member = await repos.member("Cóndor-7", 5551)
    pins = SqlitePinRepository(repos.db, repos.keys)
    assert await pins.get(member.id) is None
    await pins.set_pin(member.id, HASH, T0)
    await pins.set_duress(member.id, HASH.replace("ab", "cd"), T0)
    record = await pins.get(member.id)
    assert record is not None
    assert (record.pin_hash, record.duress_hash) == (HASH, HASH.replace("ab", "cd"))
    assert (record.failures, record.locked_until, record.reset_required) == (0, None, False)
    assert b"scrypt$" not in _raw_files(db_path)  # only ciphertext on disk (M-07)
    await pins.set_duress(member.id, None, T0)
    record = await pins.get(member.id)
    assert record is not None
    assert record.duress_hash is None


async def test_the_member_row_says_whether_a_pin_is_set(repos: Repos) -> None:
    member = await repos.member("Cóndor-7", 5551)
    pins = SqlitePinRepository(repos.db, repos.keys)
    await pins.add_failure(member.id, T0)  # a PIN row without a PIN is no PIN
    before = await repos.members.by_telegram_id(5551)
    await pins.set_pin(member.id, HASH, T0)
    after = await repos.members.by_telegram_id(5551)
    assert before is not None
    assert after is not None
    assert (before.pin_set, after.pin_set) == (False, True)


async def test_failures_and_locks_survive_reopening_the_database(
    repos: Repos, db_path: Path, keys: KeyMaterial
) -> None:
    """T-15: the lockout is persisted, so a restart mid-lockout changes nothing."""
    member = await repos.member("Cóndor-7", 5551)
    pins = SqlitePinRepository(repos.db, repos.keys)
    await pins.set_pin(member.id, HASH, T0)
    assert [await pins.add_failure(member.id, T0) for _ in range(5)] == [1, 2, 3, 4, 5]
    await pins.set_lock(member.id, T0 + timedelta(minutes=15), False)
    await repos.db.close()
    reopened = await Database.open(db_path)
    try:
        record = await SqlitePinRepository(reopened, keys).get(member.id)
    finally:
        await reopened.close()
    assert record is not None
    assert record.failures == 5
    assert record.locked_until == T0 + timedelta(minutes=15)
    lock = record.locked(T0)
    assert lock is not None
    assert lock.until == T0 + timedelta(minutes=15)


async def test_a_failure_creates_the_record_and_ends_a_session(repos: Repos) -> None:
    member = await repos.member("Cóndor-7", 5551)
    pins = SqlitePinRepository(repos.db, repos.keys)
    assert await pins.add_failure(member.id, T0) == 1
    await pins.open_session(member.id, T0 + timedelta(minutes=10), decoy=True, now=T0)
    record = await pins.get(member.id)
    assert record is not None
    assert (record.failures, record.session_until, record.session_decoy) == (
        0,
        T0 + timedelta(minutes=10),
        True,
    )
    await pins.add_failure(member.id, T0)
    record = await pins.get(member.id)
    assert record is not None
    assert (record.session_until, record.session_decoy) == (None, False)
    await pins.set_lock(member.id, None, True)
    record = await pins.get(member.id)
    assert record is not None
    assert record.reset_required


async def test_unlink_schedule_keeps_the_first_time_and_clear_forgets_all(repos: Repos) -> None:
    member = await repos.member("Cóndor-7", 5551)
    pins = SqlitePinRepository(repos.db, repos.keys)
    await pins.set_pin(member.id, HASH, T0)
    await pins.schedule_unlink(member.id, T0 + timedelta(minutes=11))
    await pins.schedule_unlink(member.id, T0 + timedelta(minutes=30))
    assert await pins.due_unlinks(T0) == []
    assert await pins.due_unlinks(T0 + timedelta(minutes=11)) == [member.id]
    await pins.set_prompt(PinPrompt(member.id, PinPurpose.VERIFY, T0 + timedelta(minutes=2)))
    await pins.clear(member.id)
    assert await pins.get(member.id) is None
    assert await pins.get_prompt(member.id) is None
    assert await pins.due_unlinks(T0 + timedelta(days=1)) == []


async def test_prompts_are_found_by_account_and_expire(
    repos: Repos, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    member = await repos.member("Cóndor-7", 5551)
    await repos.member("Puma", 5552)
    pins = SqlitePinRepository(repos.db, repos.keys)
    expires = T0 + timedelta(minutes=2)
    await pins.set_prompt(
        PinPrompt(member.id, PinPurpose.CONFIRM, expires, then=Resume.CLAIMS, pending_hash=HASH)
    )
    prompt = await pins.get_prompt(member.id)
    assert prompt == PinPrompt(member.id, PinPurpose.CONFIRM, expires, Resume.CLAIMS, HASH)
    assert prompt.then is Resume.CLAIMS  # typed back, not a bare string
    # A continuation this version does not know (armed by another version) is dropped.
    await repos.db.execute(
        "UPDATE pin_prompts SET then_action = 'gone' WHERE member_id = ?", (member.id,)
    )
    with caplog.at_level(logging.WARNING, logger="storage.pin"):
        prompt = await pins.get_prompt(member.id)
    assert prompt is not None
    assert prompt.then is None
    assert "continuation this version lacks" in caplog.text
    assert b"scrypt$" not in _raw_files(db_path)
    assert await pins.prompt_armed_for(5551, T0)
    assert not await pins.prompt_armed_for(5552, T0)
    assert not await pins.prompt_armed_for(9999, T0)
    assert not await pins.prompt_armed_for(5551, expires)
    await pins.set_prompt(PinPrompt(member.id, PinPurpose.VERIFY, expires))
    prompt = await pins.get_prompt(member.id)
    assert prompt is not None
    assert (prompt.purpose, prompt.then, prompt.pending_hash) == (PinPurpose.VERIFY, None, None)
    assert await pins.purge_prompts(T0) == 0
    assert await pins.purge_prompts(expires) == 1
    await pins.set_prompt(PinPrompt(member.id, PinPurpose.VERIFY, expires))
    await pins.clear_prompt(member.id)
    assert await pins.get_prompt(member.id) is None


async def test_message_ids_are_kept_for_linked_members_only(repos: Repos) -> None:
    member = await repos.member("Cóndor-7", 5551)
    log = SqliteChatMessageLog(repos.db, repos.keys)
    await log.record(5551, 10, T0)
    await log.record(5551, 10, T0)  # a repeat is ignored
    await log.record(5551, 11, T0 + timedelta(hours=47))
    await log.record(4242, 12, T0)  # a stranger: nothing kept
    later = T0 + timedelta(hours=47)
    assert await log.recent(member.id, T0) == [(10, T0), (11, later)]
    assert await log.recent(member.id, T0 + timedelta(hours=1)) == [(11, later)]
    rows = await repos.db.fetchall("SELECT member_id FROM chat_messages")
    assert {row[0] for row in rows} == {member.id}
    assert await log.purge(T0 + timedelta(hours=1)) == 1
    assert await log.recent(member.id, T0) == [(11, later)]
    await log.record(5551, 12, later)
    await log.forget_ids(member.id, [11, 99])
    assert await log.recent(member.id, T0) == [(12, later)]
    await log.forget(member.id)
    assert await log.recent(member.id, T0) == []


async def test_an_update_is_applied_once_and_keeps_the_message_id(repos: Repos) -> None:
    """R-09, T-31: INSERT OR IGNORE; message id and update id committed together, at once."""
    member = await repos.member("Cóndor-7", 5551)
    inbound = SqliteInboundLog(repos.db, repos.keys)
    log = SqliteChatMessageLog(repos.db, repos.keys)
    assert await inbound.first_seen(100, T0, telegram_id=5551, message_id=7)
    assert not await inbound.first_seen(100, T0, telegram_id=5551, message_id=7)
    assert await inbound.first_seen(101, T0)
    assert await inbound.first_seen(102, T0, telegram_id=9999, message_id=8)  # a stranger
    assert await log.recent(member.id, T0) == [(7, T0)]
    row = await repos.db.fetchone("SELECT COUNT(*) FROM chat_messages")
    assert row is not None
    assert row[0] == 1  # the repeat added nothing, the stranger nothing
    assert await inbound.purge(T0 + timedelta(hours=1)) == 3
    assert await inbound.first_seen(100, T0 + timedelta(hours=1))


async def test_an_update_is_not_recorded_inside_another_transaction(repos: Repos) -> None:
    """R-09: the update id must be committed before the handler, not with someone's writes."""
    inbound = SqliteInboundLog(repos.db, repos.keys)

    async def inside() -> None:
        async with repos.db.transaction():
            await inbound.first_seen(100, T0)

    with pytest.raises(RuntimeError, match="commits by itself"):
        await inside()
    assert await inbound.first_seen(100, T0)  # nothing was recorded
