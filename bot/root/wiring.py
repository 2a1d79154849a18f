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
from bot.services.alerts import AlertService
from bot.services.audit import AuditAdmin
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
from bot.services.outbox import OutboxAdmin, OutboxDeletions, OutboxSender, SenderConfig
from bot.services.oversight import OversightService
from bot.services.pin import PinService, ScryptHasher
from bot.services.registration import RegistrationService
from bot.services.registrations import RegistrationAdmin
from bot.services.retention import RetentionService
from bot.services.safety import InboundLimiter, SafetyService
from bot.services.schedules import ScheduleService
from bot.services.vigilance import DenialWatch, IntakeAlarm, InviteAlarm
from bot.version import installed_version
from storage.alerts import SqliteAlertRepository
from storage.audit import SqliteAuditLog, prepare_audit_keys
from storage.chat_messages import SqliteChatMessageLog
from storage.claims import SqliteAmountRequests, SqliteClaimEdits, SqliteClaimRepository
from storage.database import Database, DatabaseFileError, check_owner
from storage.heartbeat import SqliteHeartbeat
from storage.inbound import SqliteInboundLog
from storage.keycheck import verify_or_record
from storage.keys import KeyMaterial, any_keys, ensure_keys, load_keys, require_keys
from storage.members import (
    SqliteAccountCounters,
    SqliteInviteRepository,
    SqliteMemberRepository,
)
from storage.outbox import SqliteOutbox, SqliteRecipientDirectory
from storage.pin import SqlitePinRepository
from storage.regions import SqliteRegionRepository
from storage.registrations import SqliteRegistrationStore
from storage.retention import SqliteRetentionStore
from storage.schedules import SqliteScheduleRepository

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class Wiring:
    """Open resources and the services built on them; ``close()`` releases them."""

    db: Database
    keys: KeyMaterial
    services: Services

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
    members = SqliteMemberRepository(db, keys)
    regions = SqliteRegionRepository(db)
    claims = SqliteClaimRepository(db, keys)
    audit = SqliteAuditLog(db, audit_keys)
    # Every enqueue sets this event, so the sender reacts at once instead of polling.
    outbox_wakeup = asyncio.Event()
    outbox = SqliteOutbox(db, keys, clock, on_enqueue=outbox_wakeup.set)
    outbox_sender = OutboxSender(
        store=outbox,
        outbox=outbox,
        uow=db,
        members=members,
        recipients=SqliteRecipientDirectory(db, keys),
        clock=clock,
        config=SenderConfig(rate=settings.send_rate),
        wakeup=outbox_wakeup,
    )
    invites = InviteService(
        invites=SqliteInviteRepository(db, keys), regions=regions, audit=audit, clock=clock
    )
    pins = SqlitePinRepository(db, keys)
    # One in-memory watch per process: every refused staff action is counted in one place.
    denials = DenialWatch(members=members, outbox=outbox, audit=audit, clock=clock, uow=db)
    pin = PinService(
        pins=pins,
        members=members,
        outbox=outbox,
        audit=audit,
        clock=clock,
        uow=db,
        session_ttl=timedelta(minutes=settings.pin_session_minutes),
        # After a duress PIN the decoy is deleted with every sensitive reply; unlink after.
        decoy_unlink_after=timedelta(minutes=settings.delete_after_minutes + 1),
        denial_watch=denials,
        hasher=ScryptHasher(log_n=settings.pin_scrypt_log_n),
    )
    safety = SafetyService(
        members=members,
        pins=pins,
        pin=pin,
        chat_log=SqliteChatMessageLog(db, keys),
        inbound=SqliteInboundLog(db, keys),
        outbox=outbox,
        audit=audit,
        clock=clock,
        uow=db,
        limiter=InboundLimiter(
            per_minute=settings.rate_per_minute,
            per_day=settings.rate_per_day,
            global_per_second=settings.rate_global_per_second,
        ),
    )
    services = Services(
        clock=clock,
        registration=RegistrationService(
            members=members,
            invites=SqliteInviteRepository(db, keys),
            counters=SqliteAccountCounters(db, keys),
            audit=audit,
            clock=clock,
            alarm=InviteAlarm(
                members=members,
                outbox=outbox,
                audit=audit,
                clock=clock,
                uow=db,
                per_hour=settings.invite_alarm_per_hour,
            ),
        ),
        invites=invites,
        claims=ClaimService(claims, denials, audit=audit, clock=clock),
        claims_import=ClaimImportService(
            claims=claims, members=members, regions=regions, audit=audit, clock=clock
        ),
        deletions=OutboxDeletions(outbox),
        delete_after=timedelta(minutes=settings.delete_after_minutes),
        directory=MemberDirectory(members=members, regions=regions),
        invite_batch=InviteBatchService(invites=invites, members=members, regions=regions, uow=db),
        uow=db,
        outbox=outbox,
        outbox_sender=outbox_sender,
        outbox_admin=OutboxAdmin(outbox, clock),
        alerts=AlertService(
            alerts=SqliteAlertRepository(db, keys),
            members=members,
            regions=regions,
            outbox=outbox,
            audit=audit,
            uow=db,
            clock=clock,
            approval_threshold=settings.alert_approval_threshold,
            quiet_hours=settings.quiet_hours,
            denial_watch=denials,
        ),
        pin=pin,
        safety=safety,
        retention=RetentionService(SqliteRetentionStore(db, audit_keys=audit_keys), clock),
        membership=MembershipService(
            members=members, outbox=outbox, audit=audit, clock=clock, uow=db
        ),
        intake=IntakeAlarm(members=members, outbox=outbox, audit=audit, clock=clock, uow=db),
        heartbeat=HeartbeatService(
            store=SqliteHeartbeat(db),
            clock=clock,
            pid=os.getpid(),
            host=socket.gethostname(),
            version=installed_version(),
            poll_timeout_s=settings.poll_timeout,
        ),
        claims_admin=ClaimAdminService(
            claims=claims,
            members=members,
            edits=SqliteClaimEdits(db, keys),
            requests=SqliteAmountRequests(db, keys),
            outbox=outbox,
            audit=audit,
            uow=db,
            clock=clock,
            denials=denials,
        ),
        audit_admin=AuditAdmin(reader=audit, audit=audit, members=members, clock=clock),
        oversight=OversightService(
            claims=claims, members=members, regions=regions, audit=audit, clock=clock
        ),
        registrations=RegistrationAdmin(
            members=members,
            store=SqliteRegistrationStore(db, keys),
            invites=invites,
            safety=safety,
            audit=audit,
            clock=clock,
            denials=denials,
        ),
        schedules=ScheduleService(
            schedules=SqliteScheduleRepository(db, keys),
            members=members,
            claims=claims,
            outbox=outbox,
            audit=audit,
            uow=db,
            clock=clock,
            quiet_hours=settings.quiet_hours,
            regions=regions,
            digest_hour=settings.digest_hour,
            stalled_days=settings.stalled_days,
        ),
    )
    return Wiring(db=db, keys=keys, services=services)
