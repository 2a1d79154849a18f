"""Composition root shared by the bot and the CLI: keys, database, repositories, services.

Only the composition root (``bot.root``: this module, ``bot.root.app``, ``bot.root.cli``) may
import ``storage`` (tests/test_architecture.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.config import Settings
from bot.domain.ports import Clock
from bot.services.alert_answers import AlertResponses
from bot.services.alert_tallies import AlertTallies
from bot.services.alerts import AlertService
from bot.services.audit import AuditAdmin
from bot.services.checkins import CheckinService
from bot.services.claims import ClaimService
from bot.services.claims_admin import ClaimAdminService
from bot.services.claims_import import ClaimImportService
from bot.services.clock import SystemClock
from bot.services.container import Services
from bot.services.heartbeat import HeartbeatService
from bot.services.invite_batch import InviteBatchService
from bot.services.invites import InviteService
from bot.services.members import MemberDirectory
from bot.services.membership import MembershipService
from bot.services.outbox import OutboxAdmin, OutboxSender, SenderConfig
from bot.services.oversight import OversightService
from bot.services.pin import PinService, ScryptHasher
from bot.services.registration import RegistrationService
from bot.services.registrations import RegistrationAdmin
from bot.services.retention import RetentionService
from bot.services.safety import InboundLimiter, SafetyService
from bot.services.schedules import ScheduleService
from bot.services.vigilance import DenialWatch, IntakeAlarm, InviteAlarm
from bot.version import installed_version
from storage.audit import prepare_audit_keys
from storage.database import Database, DatabaseFileError, check_owner
from storage.heartbeat import SqliteHeartbeat
from storage.keycheck import verify_or_record
from storage.keys import KeyMaterial, any_keys, ensure_keys, load_keys, require_keys
from storage.outbox import SqliteRecipientDirectory
from storage.repairs import run_pending
from storage.retention import SqliteRetentionStore
from storage.unit_of_work import SqliteUnitOfWork

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class Wiring:
    """Open resources and the services built on them; ``close()`` releases them."""

    db: Database
    keys: KeyMaterial
    services: Services
    #: The repositories and their transaction, for the CLI's own checks, benchmarks and
    #: tests; services hold it, handlers never see it.
    uow: SqliteUnitOfWork
    #: The whole sender (``services.sending`` is only its start and stop).
    outbox_sender: OutboxSender

    async def close(self) -> None:
        """Close the database."""
        await self.db.close()


def prepare_keys(settings: Settings, *, new_database: bool) -> KeyMaterial:
    """Load the keys fail-closed; create them only together with a brand-new database.

    Keys made for an existing database would make its members strangers and break it once
    the real keys return (#11.4, M-07): then they must be there, or nothing starts.
    """
    if not new_database:
        require_keys(settings.key_dir, settings.database_path)
    elif ensure_keys(settings.key_dir, settings.database_path):
        _LOGGER.warning(
            "Created new encryption keys in %s; back this folder up offline, apart from the"
            " database: without it the data cannot be read",
            settings.key_dir,
        )
    return load_keys(settings.key_dir)


def _no_database(path: Path) -> DatabaseFileError:
    return DatabaseFileError(
        f"no database at {path.absolute()}: check CHASKI_DB (or the configuration file) and"
        " the working folder; a new one is made only by 'chaski migrate' or the bot's first"
        " run; nothing was created"
    )


def _keys_without_database(path: Path, key_dir: Path) -> DatabaseFileError:
    return DatabaseFileError(
        f"no database at {path.absolute()}, but {key_dir} holds keys made with an earlier"
        " one: check CHASKI_DB (or the configuration file) and the working folder; to start"
        " a new, empty database with these keys, run 'chaski migrate --new-database';"
        " nothing was created"
    )


async def open_wiring(
    settings: Settings,
    *,
    clock: Clock | None = None,
    create: bool = False,
    reuse_keys: bool = False,
) -> Wiring:
    """Check keys against the database, open and migrate it, build the services.

    Without ``create`` (every administration command but ``migrate``) a missing database
    is an error and nothing is created: a wrong ``CHASKI_DB`` or working folder must not
    leave an empty installation behind (#11.4). With it, a new database is made only on a
    first run, i.e. with no keys yet (they are made together): keys already there were
    made with a database, so a missing one is a wrong ``CHASKI_DB`` (the service would
    otherwise start empty, every member a stranger), unless ``reuse_keys`` says a new
    database is wanted (``chaski migrate --new-database``). ``clock`` lets tests and
    benchmarks control time; production uses the system clock.

    Raises:
        DatabaseFileError: no database (without ``create``), or the file is not one.
        KeyFileError: keys missing, exposed, malformed, or not this database's
            (``KeyMismatch``).
    """
    path = settings.database_path
    if path.is_dir():
        raise DatabaseFileError(
            f"{path.absolute()} is a folder; CHASKI_DB names the database file"
        )
    created = not path.exists()
    if created and not create:
        raise _no_database(path)
    if created and not reuse_keys and any_keys(settings.key_dir):
        raise _keys_without_database(path, settings.key_dir)
    check_owner(path)  # before anything is created: root must not leave root-owned files
    keys = prepare_keys(settings, new_database=created)
    db = await Database.open(path)
    clock = clock or SystemClock(settings.timezone)
    try:
        await verify_or_record(db, keys, settings.key_dir, clock.now())
        # Repairs of sealed data a migration left pending: only now are the keys proved.
        await run_pending(db, keys, clock.now())
        audit_keys = await prepare_audit_keys(db, settings.key_dir, clock.now())
    except BaseException:
        await db.close()
        raise
    if created:
        _LOGGER.warning(
            "Created new database %s. Next step: add a region and the first member's invite"
            " with the same settings, e.g. 'chaski region add Pichari' then 'chaski invite"
            " create --role admin --region Pichari --codename Admin-1' (from a clone:"
            " python3 scripts/dev.py run region add Pichari); see the README",
            path,
        )
    # Every enqueue sets this event, so the sender reacts at once instead of polling.
    outbox_wakeup = asyncio.Event()
    # One unit of work holds every repository: services take it (plus the clock and their
    # own settings) instead of a port per table (docs/architecture.md §4.2).
    uow = SqliteUnitOfWork.over(db, keys, audit_keys, clock, on_enqueue=outbox_wakeup.set)
    outbox_sender = OutboxSender(
        store=uow.outbox,
        uow=uow,
        recipients=SqliteRecipientDirectory(db, keys),
        clock=clock,
        config=SenderConfig(rate=settings.send_rate),
        wakeup=outbox_wakeup,
    )
    invites = InviteService(uow=uow, clock=clock)
    # One in-memory watch per process: every refused staff action is counted in one place.
    denials = DenialWatch(uow=uow, clock=clock)
    checkins = CheckinService(uow=uow, clock=clock)
    tallies = AlertTallies(uow=uow, clock=clock, quiet_hours=settings.quiet_hours)
    pin = PinService(
        uow=uow,
        clock=clock,
        session_ttl=timedelta(minutes=settings.pin_session_minutes),
        # After a duress PIN the decoy is deleted with every sensitive reply; unlink after.
        decoy_unlink_after=timedelta(minutes=settings.delete_after_minutes + 1),
        denial_watch=denials,
        hasher=ScryptHasher(log_n=settings.pin_scrypt_log_n),
    )
    safety = SafetyService(
        uow=uow,
        pin=pin,
        clock=clock,
        limiter=InboundLimiter(
            per_minute=settings.rate_per_minute,
            per_day=settings.rate_per_day,
            global_per_second=settings.rate_global_per_second,
        ),
        delete_after=timedelta(minutes=settings.delete_after_minutes),
    )
    services = Services(
        clock=clock,
        registration=RegistrationService(
            uow=uow,
            clock=clock,
            alarm=InviteAlarm(uow=uow, clock=clock, per_hour=settings.invite_alarm_per_hour),
        ),
        invites=invites,
        claims=ClaimService(uow, denials, clock=clock),
        claims_import=ClaimImportService(uow=uow, clock=clock),
        directory=MemberDirectory(uow=uow),
        invite_batch=InviteBatchService(invites=invites, uow=uow),
        sending=outbox_sender,
        outbox_admin=OutboxAdmin(uow.outbox, clock),
        alerts=AlertService(
            uow=uow,
            clock=clock,
            approval_threshold=settings.alert_approval_threshold,
            tallies=tallies,
            denial_watch=denials,
        ),
        alert_responses=AlertResponses(
            uow=uow, clock=clock, tallies=tallies, denial_watch=denials
        ),
        alert_tallies=tallies,
        checkins=checkins,
        pin=pin,
        safety=safety,
        retention=RetentionService(SqliteRetentionStore(db, audit_keys=audit_keys), clock),
        membership=MembershipService(uow=uow, clock=clock),
        intake=IntakeAlarm(uow=uow, clock=clock),
        heartbeat=HeartbeatService(
            store=SqliteHeartbeat(db),
            clock=clock,
            pid=os.getpid(),
            host=socket.gethostname(),
            version=installed_version(),
            poll_timeout_s=settings.poll_timeout,
        ),
        claims_admin=ClaimAdminService(uow=uow, clock=clock, denials=denials),
        audit_admin=AuditAdmin(uow=uow, clock=clock),
        oversight=OversightService(uow=uow, clock=clock),
        registrations=RegistrationAdmin(
            uow=uow, invites=invites, safety=safety, clock=clock, denials=denials
        ),
        schedules=ScheduleService(
            uow=uow,
            clock=clock,
            quiet_hours=settings.quiet_hours,
            checkins=checkins,
            digest_hour=settings.digest_hour,
            stalled_days=settings.stalled_days,
        ),
    )
    return Wiring(db=db, keys=keys, services=services, uow=uow, outbox_sender=outbox_sender)
