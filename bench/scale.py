"""/estado latency, peak RSS and database size with 100 000 members and 1 000 000 history rows.

Usage (from the repository root)::

    .venv/bin/python -m bench.scale                        # the issue's figures (#13)
    .venv/bin/python -m bench.scale --members 20000 --history 200000   # quicker

A template database of ``--measured`` members (10 claims each) is seeded through the real
services (``bench.common.seed_template``): that is the small database. The large one is a copy
of it with the rest bulk-inserted: members (linked, one region), claims and their status
history (``claim_events``), ``--events-per-claim`` rows per claim until the database holds
``--history`` history rows. Bulk rows are sealed with the database's own keys through the
storage layer's ``Sealer`` (``FieldCipher``: the associated data binds table, column and row
id, so every cell is sealed for its own row) and keyed hashes from its ``BlindIndex``; the
SQL is plain ``sqlite3`` ``executemany`` because the services and repositories write one
member or claim per statement (and per audit row), far too slow for a million rows. The
last bulk member is read back through the real repositories before measuring.

Then one bot per database runs (the real Application, each against its own fake Bot API)
and the same members ask ``/estado`` one at a time, the two bots taking turns question by
question (each reply awaited before the next question, so the latency is the bot's, not a
queue's), for ``--rounds`` rounds with fresh copies of the databases. Latency is
from the ``getUpdates`` answer that handed the update out to the reply's ``sendMessage``
(the server's clock). The send pacer is lifted as in ``bench.estado``: one reply at a time
never meets Telegram's limits, and the pacer is measured by ``bench.outbox``/``bench.storm``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.common import (
    FIRST_TELEGRAM_ID,
    BotProcess,
    Group,
    Template,
    TimingFake,
    codename,
    fmt,
    format_table,
    percentile,
    print_machine,
    save_json,
    seed_template,
    stopwatch,
    verdict,
    wait_or_die,
)
from storage.codec import Sealer, opt_date, ts
from storage.crypto import FieldCipher
from storage.keys import load_keys, read_data_keys
from tests.fakes.bot_api import serve

#: Targets from the issue (#13): the large database's /estado p50 within 10 % of the small
#: one's, and the bot's peak RSS under 100 MB (10^8 bytes, about 95.4 MiB).
MAX_LATENCY_RATIO = 1.10
MAX_RSS_MIB = 100e6 / 2**20
#: As ``bench.estado``: the inbound cap raised and the send pacer lifted (see the docstring).
CHASKI_SETTINGS = '{"rate_global_per_second": 100000, "send_rate": 0, "per_chat_interval": 0}'
#: Claims of the measured members (the same in both databases), as in ``bench.estado``.
CLAIMS_PER_MEASURED = 10
#: A bulk claim's status history, oldest first (``--events-per-claim`` of them are used).
_HISTORY = (
    "registered",
    "under_review",
    "approved",
    "payment_scheduled",
    "partially_paid",
    "paid",
)
#: Rows per executemany batch (bounds this process's memory, not the bot's).
_BATCH = 20_000


@dataclass(slots=True)
class DbFigures:
    """What one database holds and weighs."""

    name: str
    members: int
    claims: int
    history_rows: int
    size_bytes: int
    #: table -> (bytes with its indexes, rows), for the growing tables
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def bytes_per_member(self) -> float:
        """File size (after a checkpoint) over members: claims and history included."""
        return self.size_bytes / self.members


@dataclass(slots=True)
class RunFigures:
    """/estado latencies of one database over every round, and the bot's peak RSS."""

    name: str
    latencies_ms: list[float] = field(default_factory=list)
    peak_rss_mib: list[float] = field(default_factory=list)
    rss_start_mib: list[float] = field(default_factory=list)


# ---------------------------------------------------------------------- bulk seeding


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    members = conn.execute("SELECT count(*) FROM members").fetchone()[0]
    claims = conn.execute("SELECT count(*) FROM claims").fetchone()[0]
    events = conn.execute("SELECT count(*) FROM claim_events").fetchone()[0]
    return int(members), int(claims), int(events)


def _checkpointed_size(db_path: Path) -> int:
    """Bytes of the database file once its WAL is folded in (what a backup would copy)."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db_path.stat().st_size


#: Tables whose rows grow with members and claims (the rest are small and fixed).
_BIG_TABLES = ("members", "member_regions", "claims", "claim_events")


def table_sizes(db_path: Path) -> dict[str, tuple[int, int]]:
    """Bytes (table and its indexes, from ``dbstat``) and rows of each growing table."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema"))
        sizes: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            sizes[table] = sizes.get(table, 0) + int(size)
        return {
            table: (
                sizes.get(table, 0),
                int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]),  # noqa: S608 - fixed names
            )
            for table in _BIG_TABLES
        }


def figures_of(name: str, db_path: Path) -> DbFigures:
    """Count the rows and measure the file."""
    size = _checkpointed_size(db_path)
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        members, claims, events = _counts(conn)
    return DbFigures(name, members, claims, events, size, table_sizes(db_path))


def _batched(rows: Iterator[tuple[object, ...]], size: int) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk_seed(db_path: Path, key_dir: Path, *, members: int, history: int, per_claim: int) -> None:
    """Add members, claims and history rows to ``db_path`` until it holds the given counts.

    Every sealed cell is sealed for its own table, column and row id with the database's
    active key (a copied ciphertext would not open in another row); lookups use the keyed
    hashes the repositories use (``telegram``, ``codename``, ``reference``).
    """
    keys = load_keys(key_dir)
    data_keys, active = read_data_keys(key_dir)
    cipher = FieldCipher(data_keys, active)  # no reloader: one stat() per seal saved
    member_sealer = Sealer(cipher, "members")
    claim_sealer = Sealer(cipher, "claims")
    now = ts(datetime.now(UTC))
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("PRAGMA synchronous = OFF")  # seeding only; the bot opens it normally
        have_members, _, have_events = _counts(conn)
        region_id = int(conn.execute("SELECT id FROM regions ORDER BY id").fetchone()[0])
        op_ids = [int(r[0]) for r in conn.execute("SELECT id FROM operations ORDER BY id")]
        first_member = int(conn.execute("SELECT max(id) FROM members").fetchone()[0]) + 1
        first_claim = int(conn.execute("SELECT coalesce(max(id), 0) FROM claims").fetchone()[0])
        first_claim += 1
        new_members = max(0, members - have_members)
        new_claims = max(0, history - have_events) // per_claim

        def member_rows() -> Iterator[tuple[object, ...]]:
            for k in range(new_members):
                member_id = first_member + k
                index = have_members + k  # codename and Telegram ID continue the template's
                name = codename(index)
                telegram_id = str(FIRST_TELEGRAM_ID + index)
                yield (
                    member_id,
                    member_sealer.seal("codename", member_id, name),
                    keys.index("codename", name),
                    "es" if index % 2 == 0 else "qu",
                    member_sealer.seal("telegram", member_id, telegram_id),
                    keys.index("telegram", telegram_id),
                    now,
                    now,
                )

        for batch in _batched(member_rows(), _BATCH):
            conn.executemany(
                "INSERT INTO members (id, role, codename_enc, codename_hmac, lang, lang_chosen,"
                " telegram_enc, telegram_hmac, created_at, linked_at)"
                " VALUES (?, 'informant', ?, ?, ?, 1, ?, ?, ?, ?)",
                batch,
            )
            conn.executemany(
                "INSERT INTO member_regions (member_id, region_id) VALUES (?, ?)",
                [(row[0], region_id) for row in batch],
            )
        owners = max(1, new_members)
        start = date(2023, 1, 1)

        def claim_rows() -> Iterator[tuple[object, ...]]:
            for k in range(new_claims):
                claim_id = first_claim + k
                reference = f"S-{claim_id:08d}"
                promised = start + timedelta(days=k % 700)
                status = _HISTORY[per_claim - 1] if per_claim <= len(_HISTORY) else "paid"
                amount = 100_000 + (k % 50) * 3_700
                yield (
                    claim_id,
                    keys.index("reference", reference),
                    claim_sealer.seal("reference", claim_id, reference),
                    first_member + k % owners if new_members else first_member - 1,
                    op_ids[k % len(op_ids)],
                    region_id,
                    status,
                    claim_sealer.seal_int("promised", claim_id, amount),
                    claim_sealer.seal_int("paid", claim_id, 0),
                    opt_date(promised),
                    claim_sealer.seal("next_step", claim_id, "Revisión de documentos"),
                    opt_date(promised + timedelta(days=30)),
                    now,
                )

        for batch in _batched(claim_rows(), _BATCH):
            conn.executemany(
                "INSERT INTO claims (id, reference_hmac, reference_enc, member_id, operation_id,"
                " region_id, status, promised_enc, paid_enc, promised_date, next_step_enc,"
                " next_step_date, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            conn.executemany(
                "INSERT INTO claim_events (claim_id, at, status, visible, effective_on)"
                " VALUES (?, ?, ?, 1, ?)",
                [
                    (row[0], now, _HISTORY[n % len(_HISTORY)], row[9])
                    for row in batch
                    for n in range(per_claim)
                ],
            )
        # No ANALYZE: the bot never runs it, so the small database has no statistics either,
        # and both are planned alike.
        conn.commit()


async def check_bulk(db_path: Path, key_dir: Path, *, last_index: int) -> str:
    """Read the last bulk member and their claims back through the real repositories.

    A bulk row sealed for the wrong cell would fail here (``DecryptionError``) instead of
    quietly making the large database cheaper to read than a real one.

    Raises:
        RuntimeError: the member or their claims are not found.
    """
    from storage.claims import SqliteClaimRepository  # noqa: PLC0415 - as seed_template
    from storage.database import Database  # noqa: PLC0415
    from storage.members import SqliteMemberRepository  # noqa: PLC0415

    keys = load_keys(key_dir)
    db = await Database.open(db_path)
    try:
        member = await SqliteMemberRepository(db, keys).by_telegram_id(
            FIRST_TELEGRAM_ID + last_index
        )
        if member is None or member.codename != codename(last_index):
            raise RuntimeError("the last bulk member does not read back")
        repo = SqliteClaimRepository(db, keys)
        claims = await repo.list_for_member(member.id)
        if not claims:
            raise RuntimeError("the last bulk member has no claims")
        events = await repo.history(claims[0].id, visible_only=True)
    finally:
        await db.close()
    return f"{member.codename}: {len(claims)} claims, {len(events)} history rows on the first"


# ---------------------------------------------------------------------- measuring


@dataclass(frozen=True, slots=True)
class Measured:
    """One bot's /estado latencies (ms, after the warm-up) and its RSS (MiB)."""

    latencies_ms: list[float]
    peak_rss_mib: float
    rss_start_mib: float


async def measure_pair(
    bots: list[tuple[Path, Path, Path]],
    *,
    chats: tuple[int, ...],
    requests: int,
    warmup: int,
) -> list[Measured]:
    """One bot per (database, keys, log), all running; ``/estado`` to each in turn.

    Each question is answered before the next is asked (to this bot or the other), so the
    latency is the bot's own; the bots take turns question by question (and which goes first
    alternates), so both meet the same machine: on a 2-core VM shared with other work, load
    moves by more than the 10 % this benchmark compares.
    """
    fakes = [TimingFake(target_sends=1) for _ in bots]
    children: list[BotProcess] = []
    async with contextlib.AsyncExitStack() as stack:
        for fake, (db_path, key_dir, log_path) in zip(fakes, bots, strict=True):
            base_url = await stack.enter_async_context(serve(fake))
            args = ["--kind", "chaski", "--concurrency", "32", "--db", str(db_path)]
            args += ["--keys", str(key_dir), "--settings", CHASKI_SETTINGS]
            children.append(BotProcess([*args, "--base-url", base_url], log_path))
        try:
            for child in children:
                await child.start()
            for k in range(warmup + requests):
                turn = list(zip(fakes, children, strict=True))
                if k % 2:
                    turn.reverse()
                for fake, child in turn:
                    fake.target_sends = k + 1
                    fake.done = asyncio.Event()
                    fake.push_message(chats[k % len(chats)], "/estado")
                    await wait_or_die(fake.done, child, timeout=120.0 if k == 0 else 30.0)
            reports = [await child.stop() for child in children]
        except BaseException:
            for child in children:
                await child.kill()
            raise
    results = []
    for fake, report, (_, _, log_path) in zip(fakes, reports, bots, strict=True):
        latencies = [s * 1000 for s in fake.latencies[warmup : warmup + requests]]
        if len(latencies) != requests:
            raise RuntimeError(f"{len(latencies)} of {requests} replies timed; see {log_path}")
        rss_start = float(report.extra.get("rss_start_mib", "nan"))
        results.append(Measured(latencies, report.peak_rss_mib, rss_start))
    return results


# ---------------------------------------------------------------------- report


def print_report(dbs: list[DbFigures], runs: list[RunFigures], args: argparse.Namespace) -> bool:
    """Print the tables and the target checks; True if every target is met."""
    print("\n### Databases\n")
    print(
        format_table(
            ["database", "members", "claims", "history rows", "size MiB", "bytes per member"],
            [
                [
                    d.name,
                    f"{d.members:,}",
                    f"{d.claims:,}",
                    f"{d.history_rows:,}",
                    fmt(d.size_bytes / 2**20, 1),
                    f"{d.bytes_per_member:,.0f}",
                ]
                for d in dbs
            ],
        )
    )
    print(
        f"\n### /estado one at a time — {args.requests} per run after {args.warmup} warm-up, "
        f"{args.rounds} round(s), the two bots taking turns\n"
    )
    rows = []
    for r in runs:
        rows.append(
            [
                r.name,
                str(len(r.latencies_ms)),
                fmt(percentile(r.latencies_ms, 0.50), 2),
                fmt(percentile(r.latencies_ms, 0.99), 2),
                fmt(max(r.latencies_ms), 1),
                fmt(max(r.peak_rss_mib), 0),
                fmt(max(r.rss_start_mib), 0),
            ]
        )
    print(
        format_table(
            [
                "database",
                "replies",
                "p50 ms",
                "p99 ms",
                "max ms",
                "peak RSS MiB",
                "RSS at start MiB",
            ],
            rows,
        )
    )
    small, large = runs
    p50 = percentile(large.latencies_ms, 0.5) / percentile(small.latencies_ms, 0.5)
    p99 = percentile(large.latencies_ms, 0.99) / percentile(small.latencies_ms, 0.99)
    rss = max(large.peak_rss_mib)
    ok_p50 = p50 <= MAX_LATENCY_RATIO
    ok_rss = rss < MAX_RSS_MIB
    print()
    print(
        f"/estado p50, {large.name} / {small.name}: {p50:.2f}x "
        f"(target ≤ {MAX_LATENCY_RATIO:.2f}x) {verdict(ok_p50)}"
    )
    print(
        f"/estado p99, {large.name} / {small.name}: {p99:.2f}x "
        "(reported, not a target: the 1 % tail is a handful of replies)"
    )
    print(
        f"bot peak RSS, {large.name}: {rss:.0f} MiB (target < {MAX_RSS_MIB:.1f} MiB = 100 MB) "
        f"{verdict(ok_rss)}"
    )
    big = dbs[-1]
    print(f"database size per member, {big.name}: {big.bytes_per_member:,.0f} bytes")
    print(f"\n### Where the bytes are, {big.name}\n")
    print(
        format_table(
            ["table (with its indexes)", "rows", "MiB", "bytes per row", "bytes per member"],
            [
                [
                    table,
                    f"{rows:,}",
                    fmt(size / 2**20, 1),
                    fmt(size / rows if rows else math.nan, 0),
                    fmt(size / big.members, 0),
                ]
                for table, (size, rows) in big.tables.items()
            ],
        )
    )
    return ok_p50 and ok_rss


async def run(args: argparse.Namespace) -> bool:
    """Seed both databases, measure them in alternation, print the report."""
    print("## Scale benchmark\n")
    print_machine()
    workdir = Path(tempfile.mkdtemp(prefix="chaski-scale-"))
    try:
        with stopwatch(f"seeding {args.measured} members through the services"):
            template: Template = await seed_template(
                workdir / "template",
                [Group("VRAEM", args.measured, claims_per_member=CLAIMS_PER_MEASURED)],
            )
        small_db, small_keys = template.copy_to(workdir / "small")
        large_db, large_keys = template.copy_to(workdir / "large")
        with stopwatch(f"bulk seeding to {args.members} members, {args.history} history rows"):
            bulk_seed(
                large_db,
                large_keys,
                members=args.members,
                history=args.history,
                per_claim=args.events_per_claim,
            )
        print(
            "[read back: "
            + await check_bulk(large_db, large_keys, last_index=args.members - 1)
            + "]",
            file=sys.stderr,
        )
        dbs = [
            figures_of(f"{args.measured:,} members", small_db),
            figures_of(f"{args.members:,} members", large_db),
        ]
        chats = template.telegram_ids[0][: args.requests]
        runs = [RunFigures(dbs[0].name), RunFigures(dbs[1].name)]
        for round_no in range(args.rounds):
            bots = []
            for index, (db_path, key_dir) in enumerate(
                [(small_db, small_keys), (large_db, large_keys)]
            ):
                # A fresh copy per run: the bot keeps the update ids it applied, and
                # every run's fake numbers its updates from 1 again.
                run_dir = workdir / f"run-{index}-{round_no}"
                (run_dir / "data").mkdir(parents=True)
                run_db = run_dir / "data" / db_path.name
                shutil.copy2(db_path, run_db)
                run_keys = run_dir / "keys"
                shutil.copytree(key_dir, run_keys)
                bots.append((run_db, run_keys, run_dir / "bot.log"))
            # Write the copies out before the bots start: otherwise the kernel flushes the
            # large copy's dirty pages while the bots commit (each commit an fsync).
            os.sync()
            measured = await measure_pair(
                bots, chats=chats, requests=args.requests, warmup=args.warmup
            )
            for index, result in enumerate(measured):
                runs[index].latencies_ms += result.latencies_ms
                runs[index].peak_rss_mib.append(result.peak_rss_mib)
                runs[index].rss_start_mib.append(result.rss_start_mib)
                print(
                    f"[round {round_no}] {runs[index].name}: p50 "
                    f"{percentile(result.latencies_ms, 0.5):.2f} ms, p99 "
                    f"{percentile(result.latencies_ms, 0.99):.2f} ms, "
                    f"peak RSS {result.peak_rss_mib:.0f} MiB",
                    file=sys.stderr,
                )
            if not args.keep:
                for run_db, _, _ in bots:
                    shutil.rmtree(run_db.parent.parent)
        ok = print_report(dbs, runs, args)
        if args.json:
            save_json(
                Path(args.json),
                {"databases": [asdict(d) for d in dbs], "runs": [asdict(r) for r in runs]},
            )
    finally:
        if args.keep:
            print(f"(kept databases and bot logs in {workdir})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return ok


def parser() -> argparse.ArgumentParser:
    """Command-line options (defaults follow the issue)."""
    p = argparse.ArgumentParser(
        prog="python -m bench.scale", description=(__doc__ or "").split("\n\n")[0]
    )
    p.add_argument("--members", type=int, default=100_000, help="large database (100000)")
    p.add_argument(
        "--history", type=int, default=1_000_000, help="claim_events rows, large (1000000)"
    )
    p.add_argument("--events-per-claim", type=int, default=4, help="history rows per claim (4)")
    p.add_argument(
        "--measured", type=int, default=1000, help="members seeded by the services: the small db"
    )
    p.add_argument("--requests", type=int, default=400, help="/estado per run, measured (400)")
    p.add_argument("--warmup", type=int, default=20, help="/estado per run, not measured (20)")
    p.add_argument("--rounds", type=int, default=3, help="runs of the pair of bots (3)")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep databases and bot logs")
    return p


def main() -> None:
    """Entry point: exit status 1 if a target is missed."""
    ok = asyncio.run(run(parser().parse_args()))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
