"""Where one /estado's time goes, step by step, without Telegram (explains bench.estado).

Usage::

    .venv/bin/python -m bench.estado_parts             # 1,000 members x 10 claims

Seeds the same database as ``bench.estado``, then runs each step of the /estado path for
every member in turn, in one process, and prints wall and CPU microseconds per call: the
update de-duplication row (``safety.accept_update``), the member lookup
(``registration.identify``), the PIN session check, the claim query (``claims.list_for``),
rendering (text and history keyboard, both languages), and the sent-message row for
``/borrar`` (``safety.record_sent``) with the deletion row (``schedule_deletion``), written in
one committed transaction as ``handlers.transport.send.send_sensitive`` does. The Telegram side
(receive the update, send the reply) is what the bare echo bot of ``bench.estado`` measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.common import Group, fmt, format_table, print_machine, seed_template, stopwatch
from bot.domain.pin import PinPass


async def _timed(step: Callable[[int], Awaitable[object]], count: int) -> tuple[float, float]:
    """Mean wall and CPU microseconds of ``step(i)`` for i in 0..count-1."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        await step(i)
    return (
        (time.perf_counter() - wall) * 1e6 / count,
        (time.process_time() - cpu) * 1e6 / count,
    )


async def run(args: argparse.Namespace) -> None:
    """Seed, then time each step over every member."""
    from bot.config import Settings  # noqa: PLC0415 - heavy imports after argument parsing
    from bot.domain.models import Claim, Member  # noqa: PLC0415
    from bot.i18n import Catalogs  # noqa: PLC0415
    from bot.root.wiring import open_wiring  # noqa: PLC0415
    from handlers.claims import history_keyboard  # noqa: PLC0415
    from handlers.render import render_claim_list  # noqa: PLC0415

    print("## /estado, step by step (no Telegram)\n")
    print_machine()
    workdir = Path(tempfile.mkdtemp(prefix="chaski-bench-parts-"))
    try:
        with stopwatch("seeding"):
            template = await seed_template(
                workdir / "template",
                [Group("VRAEM", args.members, claims_per_member=args.claims_per_member)],
            )
        db_path, key_dir = template.copy_to(workdir / "run")
        wiring = await open_wiring(Settings(database_path=db_path, key_dir=key_dir))
        services = wiring.services
        catalogs = Catalogs.load(drafts=True)
        ids = template.telegram_ids[0]
        count = len(ids)
        members: list[Member] = []
        claims: list[list[Claim]] = []

        async def accept_update(i: int) -> None:
            assert await services.safety.accept_update(
                10_000 + i, telegram_id=ids[i], message_id=500 + i
            )

        async def identify(i: int) -> None:
            member = await services.registration.identify(ids[i])
            assert member is not None
            members.append(member)

        async def pin_session(i: int) -> None:
            await services.pin.session(members[i])

        async def list_for(i: int) -> None:
            claims.append(list(await services.claims.list_for(members[i], PinPass())))

        today = services.clock.today()

        async def render(i: int) -> None:
            member = members[i]
            t = catalogs.for_lang(member.lang)
            for page in render_claim_list(t, member.lang, member.codename, claims[i], today):
                markup = history_keyboard(t, page.claims)
                json.dumps(markup.to_dict())  # roughly what PTB does before sending

        async def record_and_schedule(i: int) -> None:
            await services.safety.sensitive_sent(members[i], ids[i], 1000 + i)

        rows = []
        try:
            for name, step in (
                ("safety.accept_update (update_id dedupe row, committed)", accept_update),
                ("registration.identify (member by Telegram ID)", identify),
                ("pin.session (PIN session state)", pin_session),
                ("claims.list_for (10 claims, decrypted)", list_for),
                ("render_claim_list + history keyboard", render),
                (
                    "record_sent + schedule_deletion (sent-message and deletion rows, "
                    "one committed transaction)",
                    record_and_schedule,
                ),
            ):
                wall, cpu = await _timed(step, count)
                rows.append([name, fmt(wall, 0), fmt(cpu, 0)])
        finally:
            await wiring.close()
        total_wall = sum(float(r[1].replace(",", "")) for r in rows)
        total_cpu = sum(float(r[2].replace(",", "")) for r in rows)
        rows.append(["total (our code per /estado)", fmt(total_wall, 0), fmt(total_cpu, 0)])
        print(f"\n{count:,} members, {args.claims_per_member} claims each, sequential\n")
        print(format_table(["step", "wall µs/call", "CPU µs/call"], rows))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(prog="python -m bench.estado_parts")
    p.add_argument("--members", type=int, default=1000)
    p.add_argument("--claims-per-member", type=int, default=10)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
