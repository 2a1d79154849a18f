"""Schedules (issue #15.8): start-up with 100,000 stored schedules, one tick over 10,000 due.

Usage (from the repository root)::

    .venv/bin/python -m bench.schedules                  # 100,000 schedules, 10,000 due
    .venv/bin/python -m bench.schedules --schedules 20000 --due 2000

Seeds a fresh database: ``--members`` linked informants through the services (invites
redeemed as in the tests), then ``--schedules`` daily reminders aimed at them, written with
one ``executemany`` (the same rows ``ScheduleService.create`` writes, parameters empty).

1. **Start-up.** Opens the wiring as the bot does and runs what start-up does for schedules:
   ``ensure_digest`` and a first tick with nothing due. Schedules are not re-armed one by
   one: each row keeps its ``next_due``, so start-up reads only the due ones (an index
   range). Reported: wall and CPU seconds.
2. **One tick.** ``--due`` of the schedules are made due one minute ago; one
   ``ScheduleService.tick()`` records each occurrence, writes its outbox row and moves its
   ``next_due`` on. Reported: wall and CPU seconds, outbox rows written, peak RSS.

The tick makes no Telegram call (the outbox sender does, measured by ``bench.outbox``), so no
fake Bot API is involved here.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain.models import Role
from bot.root.wiring import open_wiring
from storage.codec import ts
from storage.members import SqliteInviteRepository
from tests.conftest import TestClock

#: Targets from the issue.
MAX_STARTUP_S = 5.0
MAX_TICK_CPU_S = 1.0
MAX_RSS_MIB = 100.0


def parser() -> argparse.ArgumentParser:
    """Options of this benchmark."""
    p = argparse.ArgumentParser(prog="python -m bench.schedules", description=__doc__)
    p.add_argument("--schedules", type=int, default=100_000)
    p.add_argument("--due", type=int, default=10_000)
    p.add_argument("--members", type=int, default=200)
    p.add_argument("--keep", action="store_true", help="keep the database folder")
    return p


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _seed(settings: Settings, clock: TestClock, args: argparse.Namespace) -> None:
    wiring = await open_wiring(settings, clock=clock, create=True)
    try:
        services = wiring.services
        await services.invites.add_region("Pichari")
        repo = SqliteInviteRepository(wiring.db, wiring.keys)
        member_ids = []
        for n in range(args.members):
            issued = await services.invites.create(
                role=Role.INFORMANT, region="Pichari", codename=f"M{n:05d}", ttl_hours=72
            )
            member = await repo.redeem(issued.code, 900_000 + n, clock.now())
            assert member is not None
            member_ids.append(member.id)
        db = wiring.db
        later = clock.now() + timedelta(hours=12)
        stamp = ts(clock.now())
        await db.executemany(
            "INSERT INTO schedules (kind, target_kind, target, template, cron, state, next_due,"
            " created_at, updated_at) VALUES ('reminder', 'member', ?, 'reminder',"
            " '0 9 * * *', 'active', ?, ?, ?)",
            [
                (str(member_ids[n % len(member_ids)]), ts(later), stamp, stamp)
                for n in range(args.schedules)
            ],
        )
    finally:
        await wiring.close()


async def run(args: argparse.Namespace) -> bool:
    """Seed, measure, print a Markdown table; True if every target is met."""
    folder = Path(tempfile.mkdtemp(prefix="chaski-bench-schedules-"))
    settings = Settings(
        database_path=folder / "db" / "chaski.sqlite3",
        key_dir=folder / "keys",
        quiet_hours=None,
    )
    # 09:00 in Lima: the reminders' own hour, outside any quiet hours.
    clock = TestClock(datetime(2026, 3, 14, 14, 0, tzinfo=UTC), ZoneInfo("America/Lima"))
    try:
        started = time.perf_counter()
        await _seed(settings, clock, args)
        seeded = time.perf_counter() - started

        wall, cpu = time.perf_counter(), time.process_time()
        wiring = await open_wiring(settings, clock=clock)
        try:
            await wiring.services.schedules.ensure_digest()
            await wiring.services.schedules.tick()
            startup_wall = time.perf_counter() - wall
            startup_cpu = time.process_time() - cpu

            db = wiring.db
            await db.execute(
                "UPDATE schedules SET next_due = ? WHERE id IN"
                " (SELECT id FROM schedules WHERE kind = 'reminder' ORDER BY id LIMIT ?)",
                (ts(clock.now()), args.due),
            )
            wall, cpu = time.perf_counter(), time.process_time()
            report = await wiring.services.schedules.tick()
            tick_wall = time.perf_counter() - wall
            tick_cpu = time.process_time() - cpu
            row = await db.fetchone("SELECT count(*) FROM outbox WHERE kind = 'reminder'")
            rows = int(row[0]) if row else 0
        finally:
            await wiring.close()
        rss = _rss_mib()
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    ok_startup = startup_wall < MAX_STARTUP_S
    ok_tick = tick_cpu < MAX_TICK_CPU_S and report.queued == args.due == rows
    ok_rss = rss < MAX_RSS_MIB
    print(f"Seeded {args.schedules:,} schedules for {args.members} members in {seeded:.1f} s.")
    print()
    print("| Measure | Value | Target |")
    print("|---|---|---|")
    print(
        f"| start-up with {args.schedules:,} schedules (wiring, digest, first tick) |"
        f" {startup_wall:.2f} s wall, {startup_cpu:.2f} s CPU | < {MAX_STARTUP_S:.0f} s"
        f" {'✓' if ok_startup else '✗'} |"
    )
    print(
        f"| one tick over {args.due:,} due occurrences | {tick_wall:.2f} s wall,"
        f" {tick_cpu:.2f} s CPU, {rows:,} outbox rows | < {MAX_TICK_CPU_S:.0f} s CPU"
        f" {'✓' if ok_tick else '✗'} |"
    )
    print(f"| peak RSS | {rss:.0f} MiB | < {MAX_RSS_MIB:.0f} MB {'✓' if ok_rss else '✗'} |")
    return ok_startup and ok_tick and ok_rss


def main() -> None:
    """Entry point of ``python -m bench.schedules``."""
    sys.exit(0 if asyncio.run(run(parser().parse_args())) else 1)


if __name__ == "__main__":
    main()
