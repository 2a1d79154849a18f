"""Answer storm: an alert to N members, then N button presses, under Telegram's limits.

Usage (from the repository root)::

    .venv/bin/python -m bench.storm                                # 1,000 members: ~1.5 min
    .venv/bin/python -m bench.storm --members 10000 --press-seconds 60   # the issue's storm

The fake Bot API enforces Telegram's limits for the whole run (30 sends per sliding second
overall, 1 per chat, 429 with ``retry_after`` past them). A coordinator's urgent alert, with
a live tally in the coordinator's chat, goes to ``--members`` informants through the real
alert service (approved by an administrator above the approval threshold) at the
configured rate. Once every recipient has it, each presses *Estoy bien* (every
``--help-every``-th one *Necesito ayuda*), spread evenly over ``--press-seconds``.

Reported, from the server's clock: every press answered (``answerCallbackQuery``) and its
latency from the press to the answer (p50/p99/max), when the coordinator's tally first
showed the final counts (seconds after the last press), whether every help request was
named in an escalation (one message may name several), how many messages that took, and
how long a request waited for the first message naming it to leave, the most sends and edits in any
one-second window, 429s received, how many answer restatements (follow-up edits) went out,
bot CPU and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
from tests.fakes.bot_api import serve

REGION = "VRAEM"
#: The alert id in a freshly seeded database (the first alert).
ALERT_ID = 1
#: Targets from the issue.
MAX_ANSWER_P99_S = 1.0
MAX_TALLY_LAG_S = 5.0
MAX_ESCALATION_LAG_S = 5.0
MAX_429 = 0

_SAFE = re.compile(r"Están bien: (\d+)")
_HELP = re.compile(r"Necesitan ayuda: (\d+)")
#: A seeded member's codename (``bench.common.codename``), as an escalation names them.
_CODENAME = re.compile(r"Kuntur\d{5}")


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most timestamps within any half-open window of ``window`` seconds."""
    ordered = sorted(times)
    best = start = 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best


class StormFake(TimingFake):
    """The timing fake plus what the storm measures, each kept in O(1) per call."""

    def __init__(self, *, tally_chat: int, **kwargs: Any) -> None:
        """``tally_chat`` is the coordinator's chat (tally edits, help escalations)."""
        super().__init__(**kwargs)
        self.tally_chat = tally_chat
        self.pressed_at: dict[str, float] = {}
        self.help_pressed: dict[str, float] = {}
        self.escalated: dict[str, float] = {}
        self.answer_latencies: list[float] = []
        self.tally_edits: list[tuple[float, int, int]] = []
        self.escalations: list[float] = []
        self.message_times: list[float] = []
        self.follow_ups = 0
        self.changed = asyncio.Event()

    def press(self, chat_id: int, data: str) -> None:
        """Press a button on the newest message in ``chat_id`` (the alert)."""
        message_id = max(self.live_messages(chat_id))
        query_id = self.push_callback(chat_id, data, message_id=message_id)
        self.pressed_at[query_id] = time.monotonic()
        if ":help:" in data:
            self.help_pressed[codename(chat_id - FIRST_TELEGRAM_ID)] = self.pressed_at[query_id]

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        *,
        failed: bool = False,
        status: int = 200,
    ) -> None:
        super()._record(method, params, failed=failed, status=status)
        if failed:
            return
        now = time.monotonic()
        if method == "answerCallbackQuery":
            pressed = self.pressed_at.pop(str(params.get("callback_query_id")), None)
            if pressed is not None:
                self.answer_latencies.append(now - pressed)
            return
        chat_id = params.get("chat_id")
        if chat_id is None or not method.startswith(("send", "editMessage")):
            return
        self.message_times.append(now)
        text = str(params.get("text", ""))
        if chat_id == self.tally_chat:
            safe, help_ = _SAFE.search(text), _HELP.search(text)
            if method == "editMessageText" and safe and help_:
                self.tally_edits.append((now, int(safe.group(1)), int(help_.group(1))))
            elif "ayuda" in text and (names := _CODENAME.findall(text)):  # one or several
                self.escalations.append(now)
                for name in names:
                    self.escalated.setdefault(name, now)
            self.changed.set()
        elif method == "editMessageText":
            self.follow_ups += 1


@dataclass(slots=True)
class StormResult:
    """One answer storm."""

    members: int
    configured_rate: float
    alert_seconds: float
    presses: int
    press_seconds: float
    answered: int
    answer_p50_ms: float
    answer_p99_ms: float
    answer_max_ms: float
    tally_lag_s: float
    tally_edits: int
    help_presses: int
    escalated: int
    escalations: int
    escalation_max_s: float
    follow_ups: int
    max_per_second: int
    rejected_429: int
    cpu_s: float
    peak_rss_mib: float


async def run_storm(
    template: Template,
    workdir: Path,
    *,
    send_rate: float,
    press_seconds: float,
    help_every: int,
) -> StormResult:
    """Alert, then the presses; wait until the tally and the escalations are complete."""
    recipients = template.telegram_ids[0]
    coordinator = template.telegram_ids[1][0]
    fake = StormFake(
        tally_chat=coordinator,
        target_sends=len(recipients),
        counted=set(recipients),
        enforce_limits=True,
    )
    run_dir = workdir / "storm"
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
        "storm",
        "--region",
        REGION,
        "--tally-chat",
        str(coordinator),
        "--settings",
        f'{{"send_rate": {send_rate}}}',
    ]
    helps = {chat for i, chat in enumerate(recipients) if help_every and i % help_every == 0}
    async with serve(fake) as base_url:
        child = BotProcess([*args, "--base-url", base_url], run_dir / "bot.log")
        await child.start()
        try:
            await wait_or_die(fake.started, child, timeout=120)
            await wait_or_die(fake.done, child, timeout=len(recipients) / send_rate * 2 + 120)
            alert_seconds = fake.send_times[-1] - fake.send_times[0]
            loop = asyncio.get_running_loop()
            start = loop.time()
            for n, chat in enumerate(recipients):
                answer = "help" if chat in helps else "safe"
                fake.press(chat, f"alert:{answer}:{ALERT_ID}")
                delay = start + (n + 1) * press_seconds / len(recipients) - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            last_press = time.monotonic()
            final = (len(recipients) - len(helps), len(helps))

            def complete() -> bool:
                tally_done = any((s, h) == final for _, s, h in fake.tally_edits)
                named = sum(name in fake.escalated for name in fake.help_pressed)
                return tally_done and named >= len(helps)

            deadline = loop.time() + 300
            while not complete() and loop.time() < deadline and child.alive():
                fake.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await fake.changed.wait()
            # Let the last presses' answers arrive (bounded).
            with contextlib.suppress(AssertionError):
                await fake.wait_for(
                    lambda _: len(fake.answer_latencies) >= len(recipients), timeout=30
                )
            report = await child.stop()
        except BaseException:
            await child.kill()
            raise
    tally_at = next((at for at, s, h in fake.tally_edits if (s, h) == final), math.nan)
    latencies = fake.answer_latencies
    if report.extra.get("alert_id") != ALERT_ID:
        raise RuntimeError(f"expected alert {ALERT_ID}, the bot sent {report.extra}")
    return StormResult(
        members=len(recipients),
        configured_rate=send_rate,
        alert_seconds=alert_seconds,
        presses=len(recipients),
        press_seconds=press_seconds,
        answered=len(latencies),
        answer_p50_ms=percentile(latencies, 0.5) * 1000,
        answer_p99_ms=percentile(latencies, 0.99) * 1000,
        answer_max_ms=max(latencies, default=math.nan) * 1000,
        tally_lag_s=tally_at - last_press,
        tally_edits=len(fake.tally_edits),
        help_presses=len(helps),
        escalated=sum(name in fake.escalated for name in fake.help_pressed),
        escalations=len(fake.escalations),
        # Per person: from the press to the first escalation message that named them.
        escalation_max_s=max(
            (fake.escalated.get(name, math.inf) - at for name, at in fake.help_pressed.items()),
            default=math.nan,
        ),
        follow_ups=fake.follow_ups,
        max_per_second=max_in_window(fake.message_times),
        rejected_429=fake.rejected_429,
        cpu_s=report.cpu_s,
        peak_rss_mib=report.peak_rss_mib,
    )


def print_storm(r: StormResult) -> list[bool]:
    """The storm's table; returns the verdicts."""
    print(
        f"\n### Answer storm: alert to {r.members:,} members at {r.configured_rate:g} msg/s, "
        f"then {r.presses:,} presses over {r.press_seconds:g} s (limits enforced)\n"
    )
    answered_all = r.answered == r.presses
    tally_ok = r.tally_lag_s <= MAX_TALLY_LAG_S
    p99_ok = r.answer_p99_ms < MAX_ANSWER_P99_S * 1000
    escalation_ok = r.escalation_max_s <= MAX_ESCALATION_LAG_S
    rows = [
        ["alert delivered (first → last message)", f"{r.alert_seconds:.1f} s", "", ""],
        ["presses answered", f"{r.answered:,} of {r.presses:,}", "all", verdict(answered_all)],
        ["answerCallbackQuery p50", f"{fmt(r.answer_p50_ms, 0)} ms", "", ""],
        [
            "answerCallbackQuery p99",
            f"{fmt(r.answer_p99_ms, 0)} ms",
            f"< {MAX_ANSWER_P99_S * 1000:.0f} ms",
            verdict(p99_ok),
        ],
        ["answerCallbackQuery max", f"{fmt(r.answer_max_ms, 0)} ms", "", ""],
        [
            "tally correct, after the last press",
            f"{fmt(r.tally_lag_s, 2)} s",
            f"≤ {MAX_TALLY_LAG_S:g} s",
            verdict(tally_ok),
        ],
        ["tally edits the coordinator received (whole run)", str(r.tally_edits), "", ""],
        [
            "help requests named in an escalation",
            f"{r.escalated} of {r.help_presses}",
            "all",
            verdict(r.escalated >= r.help_presses),
        ],
        ["escalation messages to the coordinator", str(r.escalations), "", ""],
        [
            "help press → escalation naming it sent, max",
            f"{fmt(r.escalation_max_s, 2)} s",
            f"≤ {MAX_ESCALATION_LAG_S:g} s",
            verdict(escalation_ok),
        ],
        ["answer restatements (follow-up edits) sent", f"{r.follow_ups:,}", "", ""],
        ["most sends + edits in any 1 s", str(r.max_per_second), "", ""],
        ["429 answers received", str(r.rejected_429), "0", verdict(r.rejected_429 <= MAX_429)],
        ["bot CPU (whole run)", f"{r.cpu_s:.1f} s", "", ""],
        ["bot peak RSS", f"{r.peak_rss_mib:.0f} MiB", "", ""],
    ]
    print(format_table(["figure", "value", "target", "verdict"], rows))
    return [
        answered_all,
        p99_ok,
        tally_ok,
        r.escalated >= r.help_presses,
        escalation_ok,
        r.rejected_429 == 0,
    ]


async def run(args: argparse.Namespace) -> bool:
    """Seed, run the storm, print the table."""
    print("## Answer storm benchmark\n")
    print_machine()
    workdir = Path(tempfile.mkdtemp(prefix="chaski-bench-storm-"))
    try:
        groups = [
            Group(REGION, args.members),
            Group(REGION, 1, role="coordinator"),
            Group(REGION, 1, role="admin"),
        ]
        with stopwatch(f"seeding {args.members + 2} members"):
            template = await seed_template(workdir / "template", groups)
        result = await run_storm(
            template,
            workdir,
            send_rate=args.send_rate,
            press_seconds=args.press_seconds,
            help_every=args.help_every,
        )
        verdicts = print_storm(result)
        if args.json:
            save_json(Path(args.json), asdict(result))
    finally:
        if args.keep:
            print(f"(kept run directories in {workdir})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return all(verdicts)


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m bench.storm", description=(__doc__ or "").split("\n\n")[0]
    )
    p.add_argument("--members", type=int, default=1000, help="alert recipients and presses (1000)")
    p.add_argument(
        "--press-seconds", type=float, default=10.0, help="presses spread over this long (10)"
    )
    p.add_argument(
        "--help-every", type=int, default=100, help="every n-th press asks for help (100)"
    )
    p.add_argument("--send-rate", type=float, default=25.0, help="Settings.send_rate (25)")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep the database and the bot log")
    return p


def main() -> None:
    """Entry point: exit status 1 if a target is missed."""
    ok = asyncio.run(run(parser().parse_args()))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
