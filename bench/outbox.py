"""Outbox sender: a big alert under Telegram's limits, /estado during it, and raw throughput.

Usage (from the repository root)::

    .venv/bin/python -m bench.outbox                     # 1,500 recipients: ~1 min + seeding
    .venv/bin/python -m bench.outbox --recipients 10000  # the issue's run: ~7 min + seeding

1. **Limited.** The fake Bot API enforces Telegram's limits (30 sends per sliding second
   overall, 1 per chat, 429 with ``retry_after`` past them). A coordinator's urgent alert to
   ``--recipients`` informants is approved by an administrator through the real alert service
   inside the real Application; its sender paces itself at ``Settings.send_rate`` (25/s).
   Meanwhile members of another region send /estado at ``--estado-rate`` per second.
   Reported: the alert's rate over the steady window (the middle 80 % of its messages), the
   rate of all the bot's messages in that window (alert, /estado replies, edits: they share
   the configured rate) as a fraction of the configured rate, the most messages in any
   one-second window, 429s received, and /estado reply latency p50/p99.
2. **Unlimited.** The fake answers at once with no limits; ``--messages`` ALERT rows are queued
   through the Outbox port and the real sender is restarted with its limiter lifted.
   Reported: outbox messages per second (steady window).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import (
    BotProcess,
    Group,
    Template,
    TimingFake,
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
from bench.storm import max_in_window
from tests.fakes.bot_api import serve

ALERT_REGION = "VRAEM"
OTHER_REGION = "Huallaga"
#: Targets from the issue.
MIN_RATE_FRACTION = 0.95
MAX_429 = 0
MAX_ESTADO_P99_S = 1.0
MIN_UNLIMITED_RATE = 1000.0


@dataclass(slots=True)
class LimitedResult:
    """The alert under Telegram's limits."""

    recipients: int
    configured_rate: float
    enqueue_s: float
    seconds: float
    overall_rate: float
    steady_rate: float
    all_steady_rate: float
    fraction: float
    rejected_429: int
    estado_replies: int
    estado_p50_ms: float
    estado_p99_ms: float
    estado_max_ms: float
    cpu_ms_per_message: float
    peak_rss_mib: float
    server_cpu_share: float
    max_per_second: int


@dataclass(slots=True)
class UnlimitedResult:
    """The sender with its limiter lifted, against an instant server."""

    messages: int
    enqueue_s: float
    seconds: float
    overall_rate: float
    steady_rate: float
    cpu_ms_per_message: float
    peak_rss_mib: float
    server_cpu_share: float


def steady_rate(times: list[float]) -> float:
    """Messages per second over the middle 80 % of ``times`` (ramp-up and tail excluded)."""
    if len(times) < 10:
        return float("nan")
    first, last = len(times) // 10, len(times) - 1 - len(times) // 10
    span = times[last] - times[first]
    return (last - first) / span if span > 0 else float("nan")


async def _estado_stream(
    fake: TimingFake, members: tuple[int, ...], rate: float, stop: asyncio.Event
) -> int:
    """Push /estado from ``members`` in turn, ``rate`` per second, until ``stop``."""
    pushed = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not stop.is_set():
        fake.push_message(members[pushed % len(members)], "/estado")
        pushed += 1
        delay = start + pushed / rate - loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
    return pushed


async def run_limited(
    template: Template,
    workdir: Path,
    *,
    estado_rate: float,
    send_rate: float,
    profile: bool = False,
) -> LimitedResult:
    """Scenario 1: alert at the configured rate, flood limits enforced, /estado alongside."""
    recipients, others = template.telegram_ids[0], template.telegram_ids[1]
    fake = TimingFake(target_sends=len(recipients), counted=set(recipients), enforce_limits=True)
    fake.watch = set(others)
    run_dir = workdir / "limited"
    run_dir.mkdir()
    db_path, key_dir = template.copy_to(run_dir)
    args = [
        "--kind",
        "chaski",
        "--db",
        str(db_path),
        "--keys",
        str(key_dir),
        "--prepare",
        "alert",
        "--region",
        ALERT_REGION,
        "--settings",
        f'{{"send_rate": {send_rate}}}',
    ]
    if profile:
        args += ["--profile", str(run_dir / "profile.pstats")]
    async with serve(fake) as base_url:
        child = BotProcess([*args, "--base-url", base_url], run_dir / "bot.log")
        await child.start()
        stop_stream = asyncio.Event()
        try:
            # Start the /estado stream once the alert is on its way.
            await wait_or_die(fake.started, child, timeout=120)
            stream = asyncio.create_task(_estado_stream(fake, others, estado_rate, stop_stream))
            timeout = len(recipients) / send_rate * 2 + 120
            await wait_or_die(fake.done, child, timeout=timeout)
            stop_stream.set()
            pushed = await stream
            # Let the last /estado replies arrive (bounded).
            with contextlib.suppress(AssertionError):
                await fake.wait_for(lambda _: len(fake.latencies) >= pushed, timeout=5)
            report = await child.stop()
        except BaseException:
            stop_stream.set()
            await child.kill()
            raise
    times = fake.send_times
    seconds = times[-1] - times[0]
    steady = steady_rate(times)
    # Every message of the bot shares the configured rate now (replies and edits too), so the
    # rate it achieves is judged over all of them in the alert's steady window.
    messages = sorted(
        c.at
        for c in fake.calls
        if not c.failed and "chat_id" in c.params and c.method.startswith(("send", "editMessage"))
    )
    low, high = times[len(times) // 10], times[len(times) - 1 - len(times) // 10]
    in_window = sum(1 for t in messages if low <= t <= high)
    all_steady = (in_window - 1) / (high - low) if high > low else float("nan")
    latencies = fake.latencies
    return LimitedResult(
        recipients=len(recipients),
        configured_rate=send_rate,
        enqueue_s=float(report.extra.get("enqueue_s", float("nan"))),
        seconds=seconds,
        overall_rate=(len(times) - 1) / seconds,
        steady_rate=steady,
        all_steady_rate=all_steady,
        fraction=all_steady / send_rate,
        rejected_429=fake.rejected_429,
        estado_replies=len(latencies),
        estado_p50_ms=percentile(latencies, 0.5) * 1000,
        estado_p99_ms=percentile(latencies, 0.99) * 1000,
        estado_max_ms=max(latencies, default=float("nan")) * 1000,
        cpu_ms_per_message=report.cpu_s * 1000 / len(times),
        peak_rss_mib=report.peak_rss_mib,
        server_cpu_share=(fake.cpu_at_done - fake.cpu_at_started) / seconds,
        max_per_second=max_in_window(messages),
    )


async def run_unlimited(
    template: Template,
    workdir: Path,
    *,
    messages: int,
    in_flight: int | None = None,
    profile: bool = False,
    bare: bool = False,
    request: str = "httpx",
) -> UnlimitedResult:
    """Scenario 2: the sender's own ceiling, limiter lifted, instant server.

    ``bare``: instead of Chaski, a bare PTB process making the same number of similar
    ``send_message`` calls (no database, rendering or pacing): the ceiling to compare with;
    ``request`` is its HTTP layer (``httpx``: PTB's default; ``aiohttp``: Chaski's).
    """
    recipients = template.telegram_ids[0]
    fake = TimingFake(target_sends=messages, counted=set(recipients))
    kind = f"bare-{request}" if bare else "chaski"
    run_dir = workdir / f"unlimited-{kind}-{in_flight or 'default'}"
    run_dir.mkdir()
    if bare:
        args = [
            "--kind",
            "echo",
            "--prepare",
            "bare-sends",
            "--first-chat",
            str(recipients[0]),
            "--chats",
            str(len(recipients)),
            "--messages",
            str(messages),
            "--request",
            request,
        ]
    else:
        db_path, key_dir = template.copy_to(run_dir)
        args = [
            "--kind",
            "chaski",
            "--db",
            str(db_path),
            "--keys",
            str(key_dir),
            "--prepare",
            "unlimited",
            "--region",
            ALERT_REGION,
            "--messages",
            str(messages),
        ]
    if in_flight is not None:
        args += ["--in-flight", str(in_flight)]
    if profile:
        args += ["--profile", str(run_dir / "profile.pstats")]
    async with serve(fake) as base_url:
        child = BotProcess([*args, "--base-url", base_url], run_dir / "bot.log")
        await child.start()
        try:
            await wait_or_die(fake.done, child, timeout=messages / 50 + 120)
            report = await child.stop()
        except BaseException:
            await child.kill()
            raise
    times = fake.send_times
    seconds = times[-1] - times[0]
    return UnlimitedResult(
        messages=len(times),
        enqueue_s=float(report.extra.get("enqueue_s", float("nan"))),
        seconds=seconds,
        overall_rate=(len(times) - 1) / seconds,
        steady_rate=steady_rate(times),
        cpu_ms_per_message=report.cpu_s * 1000 / len(times),
        peak_rss_mib=report.peak_rss_mib,
        server_cpu_share=(fake.cpu_at_done - fake.cpu_at_started) / seconds,
    )


def print_limited(r: LimitedResult) -> list[bool]:
    """Table and verdicts of scenario 1."""
    print(
        f"\n### Alert to {r.recipients:,} recipients at {r.configured_rate:g} msg/s, "
        "fake enforcing 30/s overall and 1/s per chat\n"
    )
    print(
        format_table(
            ["figure", "value", "target", "verdict"],
            [
                ["enqueue (compose → approve → rows committed)", f"{r.enqueue_s:.2f} s", "", ""],
                ["alert duration (first → last message)", f"{r.seconds:.1f} s", "", ""],
                ["achieved rate, whole alert", f"{r.overall_rate:.2f} msg/s", "", ""],
                ["achieved rate, steady window", f"{r.steady_rate:.2f} msg/s", "", ""],
                [
                    "all messages (alert + replies + edits), steady window",
                    f"{r.all_steady_rate:.2f} msg/s",
                    "",
                    "",
                ],
                [
                    "all messages / configured rate",
                    f"{r.fraction:.3f}",
                    f"≥ {MIN_RATE_FRACTION}",
                    verdict(r.fraction >= MIN_RATE_FRACTION),
                ],
                ["429 answers received", str(r.rejected_429), "0", verdict(r.rejected_429 == 0)],
                [
                    "most messages in any 1 s (alert, replies, edits)",
                    str(r.max_per_second),
                    f"≤ {r.configured_rate:g}",
                    verdict(r.max_per_second <= r.configured_rate),
                ],
                ["/estado replies during the alert", str(r.estado_replies), "", ""],
                ["/estado p50", f"{fmt(r.estado_p50_ms, 0)} ms", "", ""],
                [
                    "/estado p99",
                    f"{fmt(r.estado_p99_ms, 0)} ms",
                    f"< {MAX_ESTADO_P99_S * 1000:.0f} ms",
                    verdict(r.estado_p99_ms < MAX_ESTADO_P99_S * 1000),
                ],
                ["/estado max", f"{fmt(r.estado_max_ms, 0)} ms", "", ""],
                ["bot CPU per alert message", f"{r.cpu_ms_per_message:.2f} ms", "", ""],
                ["bot peak RSS", f"{r.peak_rss_mib:.0f} MiB", "", ""],
                ["fake server CPU (share of one core)", f"{r.server_cpu_share:.0%}", "", ""],
            ],
        )
    )
    return [
        r.fraction >= MIN_RATE_FRACTION,
        r.rejected_429 <= MAX_429,
        r.max_per_second <= r.configured_rate,
        r.estado_p99_ms < MAX_ESTADO_P99_S * 1000,
    ]


def print_unlimited(
    results: list[tuple[int | None, UnlimitedResult]],
    bare: list[tuple[int, str, UnlimitedResult]],
) -> list[bool]:
    """Table of scenario 2 (one row per in-flight setting); the verdict is the default's."""
    print(f"\n### Limiter lifted, instant fake, {results[0][1].messages:,} ALERT rows\n")
    labelled = [
        ("Chaski outbox, " + ("engine default" if n is None else f"{n} in flight"), r)
        for n, r in results
    ] + [(f"bare PTB send_message ({req}), {n} in flight", r) for n, req, r in bare]
    rows = [
        [
            label,
            fmt(r.enqueue_s, 2),
            f"{r.seconds:.2f}",
            f"{r.overall_rate:.0f}",
            f"{r.steady_rate:.0f}",
            f"{r.cpu_ms_per_message:.2f}",
            f"{r.peak_rss_mib:.0f}",
            f"{r.server_cpu_share:.0%}",
        ]
        for label, r in labelled
    ]
    print(
        format_table(
            [
                "sender",
                "enqueue s",
                "send s",
                "msg/s whole",
                "msg/s steady",
                "CPU ms/msg",
                "peak RSS MiB",
                "fake server CPU",
            ],
            rows,
        )
    )
    default = next(r for in_flight, r in results if in_flight is None)
    ok = default.steady_rate >= MIN_UNLIMITED_RATE
    print(
        f"\noutbox msg/s (engine defaults, steady window): {default.steady_rate:.0f} "
        f"(target ≥ {MIN_UNLIMITED_RATE:.0f}) {verdict(ok)}"
    )
    if bare:
        for request in sorted({req for _, req, _ in bare}):
            best = max(r.steady_rate for _, req, r in bare if req == request)
            print(
                f"outbox vs best bare PTB send loop ({request}): {default.steady_rate / best:.2f}x"
            )
    return [ok]


async def run(args: argparse.Namespace) -> bool:
    """Seed once, run the selected scenarios, print the tables."""
    print("## Outbox benchmark\n")
    print_machine()
    workdir = Path(tempfile.mkdtemp(prefix="chaski-bench-outbox-"))
    verdicts: list[bool] = []
    raw: dict[str, object] = {}
    try:
        groups = [
            Group(ALERT_REGION, args.recipients),
            Group(OTHER_REGION, args.estado_members, claims_per_member=10),
            Group(ALERT_REGION, 1, role="coordinator"),
            Group(ALERT_REGION, 1, role="admin"),
        ]
        with stopwatch(f"seeding {args.recipients + args.estado_members + 2} members"):
            template = await seed_template(workdir / "template", groups)
        if "limited" in args.scenario:
            limited = await run_limited(
                template,
                workdir,
                estado_rate=args.estado_rate,
                send_rate=args.send_rate,
                profile=args.profile,
            )
            raw["limited"] = asdict(limited)
            verdicts += print_limited(limited)
        if "unlimited" in args.scenario:
            sweep: list[tuple[int | None, UnlimitedResult]] = []
            for in_flight in [None, *args.in_flight]:
                result = await run_unlimited(
                    template,
                    workdir,
                    messages=args.messages,
                    in_flight=in_flight,
                    profile=args.profile,
                )
                sweep.append((in_flight, result))
            bare: list[tuple[int, str, UnlimitedResult]] = []
            for request in args.bare_request:
                for in_flight in args.bare_in_flight:
                    result = await run_unlimited(
                        template,
                        workdir,
                        messages=args.messages,
                        in_flight=in_flight,
                        profile=args.profile,
                        bare=True,
                        request=request,
                    )
                    bare.append((in_flight, request, result))
            raw["unlimited"] = [{"in_flight": n, **asdict(r)} for n, r in sweep]
            raw["bare"] = [{"in_flight": n, "request": req, **asdict(r)} for n, req, r in bare]
            verdicts += print_unlimited(sweep, bare)
    finally:
        if args.keep:
            print(f"(kept run directories in {workdir})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        save_json(Path(args.json), raw)
    return all(verdicts)


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m bench.outbox", description=(__doc__ or "").split("\n\n")[0]
    )
    p.add_argument(
        "--recipients",
        type=int,
        default=1500,
        help="alert recipients (default 1500 ≈ 1 min at 25/s; the issue's 10000 ≈ 7 min)",
    )
    p.add_argument("--estado-members", type=int, default=100, help="/estado senders (100)")
    p.add_argument("--estado-rate", type=float, default=2.0, help="/estado per second (2)")
    p.add_argument("--send-rate", type=float, default=25.0, help="Settings.send_rate (25)")
    p.add_argument(
        "--messages", type=int, default=10_000, help="rows for the unlimited run (10000)"
    )
    p.add_argument(
        "--in-flight",
        type=int,
        nargs="*",
        default=[],
        help="extra unlimited runs with this many sender calls in flight (e.g. 8 16 32)",
    )
    p.add_argument(
        "--bare-in-flight",
        type=int,
        nargs="*",
        default=[4, 16],
        help="bare PTB send loops to compare with, this many calls in flight (4 16)",
    )
    p.add_argument(
        "--bare-request",
        nargs="+",
        choices=("httpx", "aiohttp"),
        default=["httpx", "aiohttp"],
        help="HTTP layer of the bare loops: PTB's default httpx and/or Chaski's aiohttp",
    )
    p.add_argument(
        "--scenario",
        nargs="+",
        choices=("limited", "unlimited"),
        default=["limited", "unlimited"],
    )
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument(
        "--profile", action="store_true", help="cProfile the bot (slower; implies --keep)"
    )
    p.add_argument("--keep", action="store_true", help="keep databases and bot logs")
    return p


def main() -> None:
    """Entry point: exit status 1 if a target is missed."""
    args = parser().parse_args()
    args.keep = args.keep or args.profile
    ok = asyncio.run(run(args))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
