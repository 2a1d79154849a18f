"""Shared benchmark machinery: timing fake, seeded template database, bot subprocesses, tables.

docs/performance.md, Method: the fake Bot API runs in *this* (parent) process, every bot variant
runs in a fresh subprocess (``bench.bot_process``) so that its CPU time and peak RSS are its own,
and all timing is read from the server's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tests.fakes.bot_api import FakeBotApi

ROOT = Path(__file__).resolve().parent.parent
#: Telegram IDs of seeded members start here (member ``i`` has ``FIRST_TELEGRAM_ID + i``).
FIRST_TELEGRAM_ID = 700_000_000


# ---------------------------------------------------------------------- the timing fake


class TimingFake(FakeBotApi):
    """The test fake plus the timestamps a benchmark needs, kept in O(1) per call.

    Latency of an update = from the ``getUpdates`` answer that handed it out to the bot's
    ``sendMessage`` to that chat; replies are matched to updates per chat in FIFO order.
    ``watch`` restricts latency accounting to some chats (e.g. /estado senders during an
    alert, whose chats get no alert messages).
    """

    def __init__(
        self,
        *,
        target_sends: int | None = None,
        counted: set[int] | None = None,
        **kwargs: Any,
    ) -> None:
        """Set ``done`` after ``target_sends`` delivered sendMessage calls.

        ``counted`` limits those (and ``send_times``) to some chats, e.g. alert recipients.
        """
        super().__init__(**kwargs)
        self.target_sends = target_sends
        self.counted = counted
        self.done = asyncio.Event()
        self.started = asyncio.Event()  # first counted send
        # This (server) process's CPU time at those moments: shows the fake is not the limit.
        self.cpu_at_first_delivery = math.nan
        self.cpu_at_started = math.nan
        self.cpu_at_done = math.nan
        self.first_delivery: float | None = None
        self.delivered_ids: set[int] = set()
        self.pending_by_chat: dict[int, deque[float]] = {}
        self.latencies: list[float] = []
        self.latency_at: list[float] = []
        self.send_times: list[float] = []
        self.watch: set[int] | None = None

    def _take(self, limit: int) -> list[dict[str, Any]]:
        batch = super()._take(limit)
        if batch:
            now = time.monotonic()
            if self.first_delivery is None:
                self.first_delivery = now
                self.cpu_at_first_delivery = time.process_time()
            for update in batch:
                update_id = int(update["update_id"])
                if update_id in self.delivered_ids:
                    continue  # handed out again before the client confirmed it
                self.delivered_ids.add(update_id)
                message = update.get("message")
                if isinstance(message, dict):
                    chat_id = int(message["chat"]["id"])
                    self.pending_by_chat.setdefault(chat_id, deque()).append(now)
        return batch

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        *,
        failed: bool = False,
        status: int = 200,
    ) -> None:
        super()._record(method, params, failed=failed, status=status)
        if method != "sendMessage" or failed:
            return
        now = time.monotonic()
        chat_id = params.get("chat_id")
        if self.counted is None or chat_id in self.counted:
            self.send_times.append(now)
            if not self.started.is_set():
                self.started.set()
                self.cpu_at_started = time.process_time()
        if isinstance(chat_id, int) and (self.watch is None or chat_id in self.watch):
            waiting = self.pending_by_chat.get(chat_id)
            if waiting:
                self.latencies.append(now - waiting.popleft())
                self.latency_at.append(now)
        if (
            self.target_sends is not None
            and len(self.send_times) >= self.target_sends
            and not self.done.is_set()
        ):
            self.done.set()
            self.cpu_at_done = time.process_time()


# ---------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """Median ignoring NaNs (NaN if nothing is left)."""
    kept = [v for v in values if not math.isnan(v)]
    return statistics.median(kept) if kept else math.nan


# ---------------------------------------------------------------------- machine


def machine_info() -> dict[str, str]:
    """What the figures depend on: cores, CPU model, RAM, Python, PTB, SQLite."""
    import sqlite3  # noqa: PLC0415 - only for the version string

    import telegram  # noqa: PLC0415

    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "python-telegram-bot": telegram.__version__,
        "sqlite": sqlite3.sqlite_version,
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def print_machine() -> None:
    """Print ``machine_info()`` as one block."""
    for key, value in machine_info().items():
        print(f"  {key:20} {value}")


# ---------------------------------------------------------------------- seeded database


@dataclass(frozen=True, slots=True)
class Group:
    """Members to seed: ``count`` people of one role in one region, each with some claims."""

    region: str
    count: int
    role: str = "informant"
    claims_per_member: int = 0


@dataclass(frozen=True, slots=True)
class Template:
    """A seeded database and its keys, copied per run so each run starts identical.

    ``telegram_ids[g]`` are the linked accounts of group ``g``, in seeding order.
    """

    db_path: Path
    key_dir: Path
    telegram_ids: tuple[tuple[int, ...], ...]

    def copy_to(self, target: Path) -> tuple[Path, Path]:
        """Copy database and keys under ``target``; return (db path, key dir)."""
        db_dir = target / "data"
        db_dir.mkdir(parents=True)
        db_path = db_dir / self.db_path.name
        shutil.copy2(self.db_path, db_path)
        key_dir = target / "keys"
        shutil.copytree(self.key_dir, key_dir)  # copy2 keeps the owner-only modes
        return db_path, key_dir


_STATUSES = (
    "registered",
    "under_review",
    "approved",
    "payment_scheduled",
    "partially_paid",
    "paid",
    "rejected",
)


def _claims_csv(rows: Sequence[tuple[int, str, int]]) -> bytes:
    """CSV of ``claims`` claims for each (member index, region, claims)."""
    header = (
        "reference,codename,operation,operation_date,region,promised_amount,status,"
        "promised_date,next_step,next_step_date,paid_amount"
    )
    lines = [header]
    start = date(2023, 1, 1)
    for index, region, claims in rows:
        for n in range(claims):
            number = index * 100 + n
            op = number % 200
            status = _STATUSES[number % len(_STATUSES)]
            promised = start + timedelta(days=number % 700)
            amount = 1000 + (number % 50) * 37
            # A partial payment names what was paid (the import requires it).
            paid = f"{amount // 2}.00" if status == "partially_paid" else ""
            lines.append(
                f"R-{number:07d},{codename(index)},Operación {op:03d},"
                f"{(start + timedelta(days=op)).isoformat()},{region},"
                f"{amount}.50,{status},{promised.isoformat()},"
                f"Revisión de documentos,{(promised + timedelta(days=30)).isoformat()},{paid}"
            )
    return ("\n".join(lines) + "\n").encode("utf-8")


def codename(index: int) -> str:
    """Codename of seeded member ``index`` (counted across groups)."""
    return f"Kuntur{index:05d}"


async def seed_template(root: Path, groups: Sequence[Group]) -> Template:
    """Seed through the real services: regions, invites, redemptions, one claims import.

    Members alternate Spanish and Quechua (the invite carries the language, so it counts as
    chosen). Returns the closed database (WAL checkpointed) ready to be copied.
    """
    from bot.config import Settings  # noqa: PLC0415 - heavy imports only when seeding
    from bot.domain.models import Lang, Role  # noqa: PLC0415
    from bot.root.wiring import open_wiring  # noqa: PLC0415

    db_path = root / "data" / "chaski.sqlite3"
    key_dir = root / "keys"
    wiring = await open_wiring(Settings(database_path=db_path, key_dir=key_dir), create=True)
    ids: list[tuple[int, ...]] = []
    claim_rows: list[tuple[int, str, int]] = []
    index = 0
    try:
        services = wiring.services
        for region in dict.fromkeys(group.region for group in groups):
            await services.invites.add_region(region)
        for group in groups:
            group_ids: list[int] = []
            for _ in range(group.count):
                issued = await services.invites.create(
                    role=Role(group.role),
                    region=group.region,
                    codename=codename(index),
                    lang=Lang.ES if index % 2 == 0 else Lang.QU,
                )
                telegram_id = FIRST_TELEGRAM_ID + index
                await services.registration.redeem(telegram_id, issued.code)
                group_ids.append(telegram_id)
                if group.claims_per_member:
                    claim_rows.append((index, group.region, group.claims_per_member))
                index += 1
            ids.append(tuple(group_ids))
        if claim_rows:
            await services.claims_import.import_file(_claims_csv(claim_rows))
    finally:
        await wiring.close()
    return Template(db_path=db_path, key_dir=key_dir, telegram_ids=tuple(ids))


# ---------------------------------------------------------------------- bot subprocesses


@dataclass(slots=True)
class ChildResult:
    """What the bot process reports about itself once told to stop."""

    cpu_s: float
    peak_rss_mib: float
    extra: dict[str, Any] = field(default_factory=dict)


class BotProcess:
    """A ``bench.bot_process`` child: started, then told to stop via stdin, then reports."""

    def __init__(self, args: Sequence[str], log_path: Path) -> None:
        """``args`` are passed to ``python -m bench.bot_process``; stderr goes to a log."""
        self.args = list(args)
        self.log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None
        self._log: Any = None

    async def start(self) -> None:
        """Launch the child (the parent's environment plus PTB_TIMEDELTA=1)."""
        env = dict(os.environ, PTB_TIMEDELTA="1", PYTHONHASHSEED="0")
        self._log = self.log_path.open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.bot_process",
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            cwd=ROOT,
            env=env,
        )

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self._proc is not None and self._proc.returncode is None

    async def stop(self, timeout: float = 30.0) -> ChildResult:  # noqa: ASYNC109
        """Ask the child to stop and return its report.

        Raises:
            RuntimeError: the child died or printed no report (see its log).
        """
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise RuntimeError("bot process not started")
        try:
            if proc.returncode is None:
                proc.stdin.write(b"stop\n")
                with contextlib.suppress(ConnectionError):
                    await proc.stdin.drain()
            async with asyncio.timeout(timeout):
                out, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"bot process did not stop; see {self.log_path}") from None
        finally:
            if self._log is not None:
                self._log.close()
        for line in reversed(out.decode().splitlines()):
            if line.startswith("{"):
                report = json.loads(line)
                return ChildResult(
                    cpu_s=float(report.pop("cpu_s")),
                    peak_rss_mib=float(report.pop("peak_rss_mib")),
                    extra=report,
                )
        raise RuntimeError(f"bot process exited {proc.returncode}; see {self.log_path}")

    async def kill(self) -> None:
        """Kill the child if it is still running (error paths)."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        if self._log is not None:
            self._log.close()


async def wait_or_die(event: asyncio.Event, child: BotProcess, timeout: float) -> None:  # noqa: ASYNC109
    """Wait for ``event``, failing early if the child process exits.

    Raises:
        RuntimeError: the child died, or ``timeout`` passed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not event.is_set():
        if not child.alive():
            raise RuntimeError(f"bot process died; see {child.log_path}")
        if loop.time() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s; see {child.log_path}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await event.wait()


# ---------------------------------------------------------------------- tables


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (pasteable into docs/performance.md) with aligned columns."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def save_json(path: Path, data: object) -> None:
    """Write raw figures for later comparison."""
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def fmt(value: float, digits: int = 1) -> str:
    """Format a figure, ``—`` for NaN."""
    return "—" if math.isnan(value) else f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    """PASS/FAIL."""
    return "PASS" if ok else "FAIL"


@contextlib.contextmanager
def stopwatch(label: str) -> Iterator[None]:
    """Print how long a preparation step took (to stderr, keeping stdout for results)."""
    start = time.perf_counter()
    yield
    print(f"[{label}: {time.perf_counter() - start:.1f} s]", file=sys.stderr)
