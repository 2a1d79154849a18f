"""THE crash test (T-35): kill -9 mid-broadcast, restart, nobody missed, duplicates bounded.

A 1,000-recipient alert is queued; a sender subprocess (tests/handlers/outbox_crash_worker.py,
the real storage + sender + notifier) delivers it to the fake Bot API and is SIGKILLed once
some sends happened (waiting on the fake's call count, not on time). A second subprocess
finishes the job. Then every recipient has exactly one ``sent`` row, and the extra
``sendMessage`` calls (a message Telegram accepted but whose result the killed process never
committed) are at most the documented bound: ``SenderConfig.lease_batch`` rows.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.notices import News
from bot.domain.outbox import OutboxKind, OutboxMessage
from bot.services.clock import SystemClock
from storage.codec import Sealer, ts
from storage.database import Database
from storage.keys import ensure_keys, load_keys
from storage.outbox import SqliteOutbox
from tests.conftest import LIMA
from tests.fakes.bot_api import FakeBotApi, serve

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 1000
BATCH = 50  # the worker's lease_batch: the documented duplicate bound
KILL_AFTER = 300  # delivered sends before the SIGKILL
FIRST_CHAT = 900_000


async def _seed(db_path: Path, key_dir: Path) -> None:
    """1,000 linked informants and one alert row each (members inserted in one transaction)."""
    ensure_keys(key_dir, db_path)
    keys = load_keys(key_dir)
    db = await Database.open(db_path)
    sealer = Sealer(keys.cipher, "members")
    now = ts(datetime.now(UTC))
    try:
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO members (id, role, codename_enc, codename_hmac, telegram_enc,"
                " telegram_hmac, created_at, linked_at) VALUES (?, 'informant', ?, ?, ?, ?, ?, ?)",
                [
                    (
                        n,
                        sealer.seal("codename", n, f"M{n}"),
                        keys.index("codename", f"M{n}"),
                        sealer.seal("telegram", n, str(FIRST_CHAT + n)),
                        keys.index("telegram", str(FIRST_CHAT + n)),
                        now,
                        now,
                    )
                    for n in range(1, RECIPIENTS + 1)
                ],
            )
        outbox = SqliteOutbox(db, keys, SystemClock(LIMA))
        added = await outbox.enqueue_many(
            [
                OutboxMessage(f"alert:1:{n}", OutboxKind.ALERT, n, News(), correlation="alert:1")
                for n in range(1, RECIPIENTS + 1)
            ]
        )
        assert added == RECIPIENTS
    finally:
        await db.close()


async def _spawn(db_path: Path, key_dir: Path, base_url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.handlers.outbox_crash_worker",
        str(db_path),
        str(key_dir),
        base_url,
        str(BATCH),
        cwd=ROOT,
        env={**os.environ, "PTB_TIMEDELTA": "1"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def _delivered(fake: FakeBotApi) -> int:
    return sum(1 for call in fake.calls_to("sendMessage") if not call.failed)


async def test_kill_9_mid_broadcast_loses_nobody_and_duplicates_within_the_bound(
    tmp_path: Path,
) -> None:
    db_path, key_dir = tmp_path / "db" / "chaski.sqlite3", tmp_path / "keys"
    await _seed(db_path, key_dir)
    fake = FakeBotApi()
    async with serve(fake) as base_url:
        first = await _spawn(db_path, key_dir, base_url)
        await fake.wait_for(lambda f: _delivered(f) >= KILL_AFTER, timeout=30)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert first.returncode == -signal.SIGKILL
        killed_at = _delivered(fake)
        assert killed_at < RECIPIENTS, "the first run finished before the kill"

        second = await _spawn(db_path, key_dir, base_url)
        _, stderr = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 0, stderr.decode()[-2000:]

    db = await Database.open(db_path)
    try:
        statuses = await db.fetchall(
            "SELECT member_id, status FROM outbox WHERE correlation = 'alert:1'"
        )
    finally:
        await db.close()
    assert len(statuses) == RECIPIENTS
    assert Counter(status for _, status in statuses) == {"sent": RECIPIENTS}
    assert sorted(member for member, _ in statuses) == list(range(1, RECIPIENTS + 1))

    per_chat = Counter(c.params["chat_id"] for c in fake.calls_to("sendMessage") if not c.failed)
    assert set(per_chat) == {FIRST_CHAT + n for n in range(1, RECIPIENTS + 1)}  # none missing
    duplicates = sum(per_chat.values()) - RECIPIENTS
    assert 0 <= duplicates <= BATCH, f"{duplicates} duplicates exceed the bound of {BATCH}"
    sends = fake.calls_to("sendMessage")
    assert all(call.params.get("protect_content") is True for call in sends if not call.failed)
