"""The bot side of a benchmark run, in its own process: a bare PTB echo bot or the real Chaski.

Started by ``bench.common.BotProcess``. It long-polls the parent's fake Bot API until a line
arrives on stdin, then prints one JSON line with its own CPU time (from polling start to the
stop request) and peak RSS (``VmHWM``), so the parent's fake server is never counted against
the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import math
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

#: A syntactically valid token; the fake accepts any.
TOKEN = "123456:BENCHMARK-token-not-real-0123456789"  # noqa: S105 - fake server only

#: As ``bot.root.app.ALLOWED_UPDATES``, repeated so the echo variants never import the bot.
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
]

#: Work done after post_init and before polling (e.g. enqueue an alert), by name.
Prepare = Callable[[Any, argparse.Namespace], Awaitable[dict[str, Any]]]


async def _prepare_alert(
    application: Any, args: argparse.Namespace, tally_message_id: int | None = None
) -> dict[str, Any]:
    """Send an urgent alert to ``args.region`` through the real alert service.

    A coordinator composes and confirms it; above the approval threshold an administrator
    approves it (M-14), which writes every recipient's outbox row in one transaction. The
    sender, already started by ``on_startup``, picks the rows up as soon as they commit.
    ``tally_message_id`` becomes the alert's live tally, as the preview does in the chat.
    """
    from bot.domain.alerts import AlertStatus, Severity  # noqa: PLC0415
    from bot.domain.models import Role  # noqa: PLC0415

    services = application.bot_data.services
    members = await services.directory.list_members()
    coordinator = next(m for m in members if m.role is Role.COORDINATOR)
    admin = next(m for m in members if m.role is Role.ADMIN)
    region = next(r for r in await services.directory.list_regions() if r.name == args.region)
    alerts = services.alerts
    started = time.perf_counter()
    draft = await alerts.start_draft(coordinator)
    await alerts.choose_template(coordinator, "check_messages")
    await alerts.toggle_region(coordinator, region.id)
    await alerts.set_severity(coordinator, Severity.URGENT)
    preview = await alerts.preview(coordinator)
    alert = await alerts.confirm(coordinator, draft.nonce, tally_message_id)
    if alert.status is AlertStatus.PENDING:
        alert = await alerts.approve(admin, alert.id)
    return {
        "enqueue_s": time.perf_counter() - started,
        "recipients": preview.recipients,
        "needed_approval": preview.needs_approval,
        "alert_id": alert.id,
    }


async def _prepare_storm(application: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The answer storm's alert: as ``alert``, with a live tally in the coordinator's chat.

    The tally message is posted first through the bot's one send path (``--tally-chat`` is
    the coordinator's chat), as the confirmed preview would be.
    """
    from handlers.transport.send import post_message  # noqa: PLC0415

    message_id = await post_message(application.bot, args.tally_chat, "Aviso", None)
    return await _prepare_alert(application, args, tally_message_id=message_id)


async def _prepare_unlimited(application: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Queue ``args.messages`` ALERT rows, then restart the real sender with no limits.

    Rows go straight through the Outbox port (member ids cycle over ``args.region``'s
    informants) while the sender is stopped, so the figure is the sender's alone: lease,
    decrypt, render per language, send, record with compare-and-set.
    """
    from bot.domain.alerts import AlertContent, Severity  # noqa: PLC0415
    from bot.domain.models import Role  # noqa: PLC0415
    from bot.domain.notices import AlertSent  # noqa: PLC0415
    from bot.domain.outbox import OutboxKind, OutboxMessage  # noqa: PLC0415
    from bot.services.outbox import OutboxSender, SenderConfig  # noqa: PLC0415
    from handlers.notices import renderer_table  # noqa: PLC0415
    from handlers.notifier import TelegramNotifier  # noqa: PLC0415
    from handlers.transport.pacing import SendPacer  # noqa: PLC0415

    services = application.bot_data.services
    # The whole sender behind its lifecycle, and the outbox the services write to: a
    # benchmark may reach what handlers cannot.
    sender = services.sending
    assert isinstance(sender, OutboxSender)
    await sender.stop()
    members = [
        m.id
        for m in await services.directory.list_members()
        if m.role is Role.INFORMANT and args.region in m.regions
    ]
    notice = AlertSent(1, Severity.URGENT, AlertContent(template="check_messages"))
    started = time.perf_counter()
    await services.safety.uow.outbox.enqueue_many(
        [
            OutboxMessage(
                idempotency_key=f"bench:{i}",
                kind=OutboxKind.ALERT,
                member_id=members[i % len(members)],
                notice=notice,
            )
            for i in range(args.messages)
        ]
    )
    enqueue_s = time.perf_counter() - started
    # Lift the global rate; batch size and calls in flight: the engine's defaults unless given.
    sender.config = SenderConfig(rate=None, max_in_flight=args.in_flight)
    notifier = TelegramNotifier(application.bot, application.bot_data.catalogs, renderer_table())
    await sender.start(notifier, SendPacer(None, per_chat_interval=0))
    return {"enqueue_s": enqueue_s, "recipients": len(members)}


#: Background tasks started by a prepare step (kept referenced until the process ends).
_BACKGROUND: set[asyncio.Task[None]] = set()
#: About as long as a rendered alert (header, body, question), HTML like the real one.
_BARE_TEXT = (
    "<b>⚠️ AVISO URGENTE</b>\nRevisa tus mensajes del programa hoy mismo. No compartas este "
    "aviso con nadie.\n\n¿Estás a salvo? Responde con un botón."
)


async def _prepare_bare_sends(application: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The bare-PTB ceiling for comparison: ``args.messages`` ``send_message`` calls.

    Same shape as an alert (HTML text of similar length, two inline buttons,
    ``protect_content``), to chats ``first_chat .. first_chat + chats - 1`` in turn, at most
    ``args.in_flight`` (default 16) at once; no database, no rendering, no pacing.
    """
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup  # noqa: PLC0415
    from telegram.constants import ParseMode  # noqa: PLC0415

    bot = application.bot
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Estoy bien", callback_data="alert:safe:1"),
                InlineKeyboardButton("Necesito ayuda", callback_data="alert:help:1"),
            ]
        ]
    )
    slots = asyncio.Semaphore(args.in_flight or 16)

    async def one(i: int) -> None:
        async with slots:
            await bot.send_message(
                args.first_chat + i % args.chats,
                _BARE_TEXT,
                parse_mode=ParseMode.HTML,
                protect_content=True,
                reply_markup=markup,
            )

    async def all_sends() -> None:
        await asyncio.gather(*(one(i) for i in range(args.messages)))

    task = asyncio.create_task(all_sends())
    _BACKGROUND.add(task)
    return {}


PREPARE: dict[str, Prepare] = {
    "alert": _prepare_alert,
    "storm": _prepare_storm,
    "unlimited": _prepare_unlimited,
    "bare-sends": _prepare_bare_sends,
}


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer every text with itself: the cheapest possible handler (one sendMessage)."""
    del context
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text)


def _echo_application(args: argparse.Namespace) -> Any:
    builder = Application.builder().token(TOKEN).base_url(args.base_url)
    if args.request == "aiohttp":
        # The same HTTP layer as Chaski, to show how much of its gain is the transport alone.
        from handlers.transport.http import AiohttpRequest  # noqa: PLC0415 - only this variant needs it

        builder = builder.request(AiohttpRequest()).get_updates_request(
            AiohttpRequest(connection_pool_size=1)
        )
    if args.concurrency:
        builder = builder.concurrent_updates(args.concurrency)
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, _echo))
    return application


def _chaski_application(args: argparse.Namespace) -> Any:
    from bot.config import Settings  # noqa: PLC0415
    from bot.root.app import build_application  # noqa: PLC0415 - only the chaski variant needs it

    overrides: dict[str, Any] = json.loads(args.settings or "{}")
    settings = Settings(
        bot_token=TOKEN,
        base_url=args.base_url,
        database_path=Path(args.db),
        key_dir=Path(args.keys),
        concurrent_updates=args.concurrency or 32,
        poll_timeout=args.poll_timeout,
        **overrides,
    )
    return build_application(settings)


def _status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB; NaN if unavailable."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return float("nan")


def _peak_rss_mib() -> float:
    """Peak RSS of this process image.

    ``VmHWM`` rather than ``getrusage().ru_maxrss``: on Linux ``ru_maxrss`` survives
    ``execve`` and so reports the *parent's* peak when the parent (here, the fake server with
    thousands of queued updates) was bigger at fork time. ``ru_maxrss`` only where /proc is
    missing.
    """
    peak = _status_mib("VmHWM")
    if math.isnan(peak):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak


async def _wait_for_stop() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()


def _event_loop(args: argparse.Namespace) -> asyncio.AbstractEventLoop:
    """Chaski's loop as ``chaski run`` picks it; for an echo bot, the one ``--loop`` names."""
    if args.kind == "chaski":
        from bot.root.app import use_fast_event_loop  # noqa: PLC0415 - only the chaski variant

        use_fast_event_loop()
        return asyncio.get_event_loop()
    if args.loop == "uvloop":
        import uvloop  # noqa: PLC0415 - only the variants that ask for it

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _commits(application: Any) -> int:
    """SQLite commits Chaski's database made so far (0 for an echo bot, which has none)."""
    bot_data = application.bot_data
    services = getattr(bot_data, "services", None)
    return int(getattr(getattr(services, "uow", None), "commits", 0))


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    application = _chaski_application(args) if args.kind == "chaski" else _echo_application(args)
    extra: dict[str, Any] = {}
    async with application:
        if application.post_init is not None:
            await application.post_init(application)
        if args.prepare:
            extra.update(await PREPARE[args.prepare](application, args))
        updater = application.updater
        assert updater is not None
        rss_start = _status_mib("VmRSS")
        commits_start = _commits(application)
        # CPU-time profile: idle waits (epoll, long polls) would dominate a wall-clock one.
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        cpu_start = time.process_time()
        if profiler is not None:
            profiler.enable()
        await updater.start_polling(
            timeout=args.poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        await application.start()
        print(json.dumps({"ready": True}), flush=True)
        await _wait_for_stop()
        cpu = time.process_time() - cpu_start
        if args.kind == "chaski":
            extra["commits"] = _commits(application) - commits_start
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        await updater.stop()
        await application.stop()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)
    return {"cpu_s": cpu, "peak_rss_mib": _peak_rss_mib(), "rss_start_mib": rss_start, **extra}


def main() -> None:
    """Parse arguments, run the bot until told to stop, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=("echo", "chaski"), required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=0, help="0 = sequential (echo)")
    parser.add_argument(
        "--request",
        choices=("httpx", "aiohttp"),
        default="httpx",
        help="HTTP layer of the echo / bare-sends bot: PTB's default or handlers.transport.http",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the echo / bare-sends bot (Chaski always takes its own: uvloop)",
    )
    parser.add_argument("--db")
    parser.add_argument("--keys")
    parser.add_argument("--settings", help="JSON of extra Settings fields (chaski)")
    parser.add_argument("--poll-timeout", type=int, default=10)
    parser.add_argument("--profile", help="write cProfile stats of the polling phase here")
    parser.add_argument("--prepare", choices=sorted(PREPARE))
    parser.add_argument("--region", default="VRAEM", help="alert region (--prepare)")
    parser.add_argument("--in-flight", type=int, help="sender calls in flight (unlimited)")
    parser.add_argument("--tally-chat", type=int, default=0, help="coordinator's chat (storm)")
    parser.add_argument("--first-chat", type=int, default=0, help="first chat (bare-sends)")
    parser.add_argument("--chats", type=int, default=1, help="chats in turn (bare-sends)")
    parser.add_argument("--messages", type=int, default=10_000, help="rows (unlimited)")
    args = parser.parse_args()
    # As bot.root.cli configures production (INFO; httpx would log URLs), without importing the
    # bot into the bare echo variants: their RSS must stay PTB's own.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    loop = _event_loop(args)
    asyncio.set_event_loop(loop)
    try:
        report = loop.run_until_complete(_main(args))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
