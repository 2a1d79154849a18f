"""The services one bot process uses, built by the composition root (``bot.wiring``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.domain.ports import Clock, DeletionScheduler
from bot.services.claims import ClaimService
from bot.services.claims_import import ClaimImportService
from bot.services.invites import InviteService
from bot.services.registration import RegistrationService


@dataclass(frozen=True, slots=True)
class Services:
    """Everything handlers, jobs and the CLI may call; no repositories, no Telegram."""

    clock: Clock
    registration: RegistrationService
    invites: InviteService
    claims: ClaimService
    claims_import: ClaimImportService
    deletions: DeletionScheduler
    #: How long sensitive replies stay in the chat before the bot deletes them (M-10).
    delete_after: timedelta
