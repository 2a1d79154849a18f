"""PIN use cases (M-05, M-13b, T-15..T-17): set, verify, lock out, reset, duress decoy.

The PIN is asked in a stateless way: the bot arms a short-lived *prompt* row and the member's
next plain text is handled by ``submit``. Checking always costs the same: two scrypt
derivations (the real PIN and the duress PIN, or a dummy when there is none), in a worker
thread so the event loop keeps serving other chats, whether the input is right, wrong,
malformed or the duress PIN (T-17: no timing difference to observe).

A duress PIN "succeeds" like the real one and returns the same outcome, so a handler cannot
behave differently by mistake; what differs is the session it opens (a *decoy* session, in
which the claim list is shown empty), the silent note to the region's coordinators, and the
unlink scheduled for after the decoy has been deleted.

Commands declare their PIN rule next to their roles (``handlers.access.requires``); the one
decision for all of them is ``admit``, which returns a ``PinPass`` (go on; decoy or not) or why
not (``PinAsked``, ``PinLockedOut``, ``PinMissing``), having armed the prompt itself. Services
of privileged actions call ``require_session`` again before acting.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.errors import NotFound, ValidationError
from bot.domain.models import Member, Role
from bot.domain.notices import CoordinatorNote, DuressPinUsed, PinLocked
from bot.domain.outbox import Outbox, OutboxKind, OutboxMessage
from bot.domain.pin import (
    LOCK_AFTER,
    MAX_SESSION,
    PROMPT_TTL,
    RESET_AFTER,
    PinAsked,
    PinLockedOut,
    PinMissing,
    PinNotSet,
    PinPass,
    PinPrompt,
    PinPurpose,
    PinRecord,
    PinRequired,
    PinRule,
    PinStep,
    PinStop,
    Resume,
    SessionState,
    Then,
    is_weak,
    lock_after_failure,
    needs_reset,
    normalise_pin,
)
from bot.domain.ports import Clock, MemberRepository, UnitOfWork
from bot.domain.text import clean_name
from bot.services.authz import Action, authorize, is_allowed
from bot.services.vigilance import DenialWatch

#: scrypt cost (docs/threat-model.md §9): N = 2**15, r = 8, p = 1 needs 32 MiB; maxmem above it.
SCRYPT_LOG_N = 15
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
SALT_BYTES = 16
DIGEST_BYTES = 32


@dataclass(frozen=True, slots=True)
class ScryptHasher:
    """``hashlib.scrypt`` with a per-PIN random salt, encoded as ``scrypt$n$r$p$salt$hash``.

    The parameters travel with each hash, so raising the cost later keeps old PINs working.
    Synchronous on purpose: callers run it in a thread (``asyncio.to_thread``).
    """

    log_n: int = SCRYPT_LOG_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @staticmethod
    def _derive(pin: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
        return hashlib.scrypt(
            pin.encode("ascii"),
            salt=salt,
            n=2**log_n,
            r=r,
            p=p,
            maxmem=SCRYPT_MAXMEM,
            dklen=DIGEST_BYTES,
        )

    def hash(self, pin: str) -> str:
        """A new salted hash of a normalised PIN."""
        salt = secrets.token_bytes(SALT_BYTES)
        digest = self._derive(pin, salt, self.log_n, self.r, self.p)
        return f"scrypt${self.log_n}${self.r}${self.p}${salt.hex()}${digest.hex()}"

    def verify(self, pin: str | None, encoded: str | None) -> bool:
        """Whether ``pin`` matches ``encoded``, always at the cost of one derivation.

        With no PIN (malformed input), no hash, or a hash that does not parse, a dummy
        derivation at our own parameters is done and the answer is False (fail closed).
        """
        parsed = _parse(encoded)
        if parsed is None:
            self._derive(pin or "", secrets.token_bytes(SALT_BYTES), self.log_n, self.r, self.p)
            return False
        log_n, r, p, salt, digest = parsed
        candidate = self._derive(pin or "", salt, log_n, r, p)
        return pin is not None and hmac.compare_digest(candidate, digest)


def _parse(encoded: str | None) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$") if encoded else []
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        log_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return None
    if not (1 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16) or not salt or not digest:
        return None
    return log_n, r, p, salt, digest


class PinOutcome(StrEnum):
    """What the member's text did; handlers map each to one translated answer."""

    NO_PROMPT = "no_prompt"  # not a PIN: nothing was armed (or it expired)
    OK = "ok"  # real or duress PIN: indistinguishable on purpose
    WRONG = "wrong"
    LOCKED = "locked"
    INVALID = "invalid"  # a new PIN that is not 6..12 digits
    WEAK = "weak"
    CLASH = "clash"  # the new PIN equals the other PIN (real vs duress)
    CONFIRM = "confirm"  # type the new PIN again
    MISMATCH = "mismatch"
    SET = "set"
    DURESS_SET = "duress_set"


@dataclass(frozen=True, slots=True)
class PinResult:
    """Outcome of one submitted text, with what the handler needs to word it."""

    outcome: PinOutcome
    then: Then | None = None
    locked_until: datetime | None = None
    attempts_left: int | None = None


async def notify_coordinators(
    members: MemberRepository,
    outbox: Outbox,
    member: Member,
    note: type[CoordinatorNote],
    now: datetime,
    *,
    exclude: int | None = None,
) -> int:
    """Queue a note about ``member`` (codename only) to the coordinators of their regions.

    Without such a coordinator (or for a coordinator's own account) the administrators are
    told instead, so a safety note never goes nowhere. Returns how many rows were queued.
    """
    skip = {member.id, exclude}
    coordinators = await members.in_regions(member.regions, [Role.COORDINATOR])
    ids = [m.id for m in coordinators if m.id not in skip]
    if not ids:
        ids = [m.id for m in await members.list_all() if m.role is Role.ADMIN and m.active]
        ids = [member_id for member_id in ids if member_id not in skip]
    stamp = now.isoformat(timespec="seconds")
    return await outbox.enqueue_many(
        [
            OutboxMessage(
                idempotency_key=f"{note.TEMPLATE}:{member.id}:{recipient}:{stamp}",
                kind=OutboxKind.NOTIFICATION,
                member_id=recipient,
                notice=note(codename=member.codename),
            )
            for recipient in ids
        ]
    )


@dataclass(frozen=True, slots=True)
class PinService:
    """PIN life cycle for one member at a time; every decision persisted before answering."""

    clock: Clock
    uow: UnitOfWork
    hasher: ScryptHasher = ScryptHasher()
    #: A verified PIN keeps protected data open this long (≤ ``MAX_SESSION``).
    session_ttl: timedelta = MAX_SESSION
    #: After a duress PIN, unlink once this has passed (the decoy's deletion plus a margin).
    decoy_unlink_after: timedelta = timedelta(minutes=11)
    #: Audits and counts refused resets and unlinks (T-11); the composition root shares
    #: one instance with the alert service. None: a private one (unit tests).
    denial_watch: DenialWatch | None = None
    denials: DenialWatch = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Refuse a session longer than the security rule allows (M-05); bind the watch."""
        if not timedelta(0) < self.session_ttl <= MAX_SESSION:
            raise ValueError("PIN session must last more than 0 and at most 10 minutes")
        watch = self.denial_watch or DenialWatch(uow=self.uow, clock=self.clock)
        object.__setattr__(self, "denials", watch)  # frozen: set once, here

    # ------------------------------------------------------------------ sessions

    async def session(self, member: Member) -> SessionState:
        """Whether PIN-protected data may be shown to ``member`` now."""
        state, _record = await self._state(member)
        return state

    async def _state(self, member: Member) -> tuple[SessionState, PinRecord | None]:
        """The session state and the PIN row it was read from (None: no row read or none).

        A member read without a PIN (``pin_set`` False, read in this same update) needs no
        lookup: one database trip less on every ``/estado`` of the many informants without
        one. Unknown (None) or set: the PIN row decides.
        """
        record = None if member.pin_set is False else await self.uow.pins.get(member.id)
        if record is None or record.pin_hash is None:
            state = (
                SessionState.NOT_NEEDED if member.role is Role.INFORMANT else SessionState.CLOSED
            )
            return state, record
        until = record.session_until
        if until is None or until <= self.clock.now():
            return SessionState.CLOSED, record
        return (SessionState.DECOY if record.session_decoy else SessionState.OPEN), record

    async def admit(
        self, member: Member, rule: PinRule, resume: Resume | None = None
    ) -> PinPass | PinStop:
        """The PIN decision for a command declared with ``rule`` (M-05, M-13b).

        ``DATA``: no PIN (informants) or an open session passes; a session opened by the
        duress PIN passes as a decoy, so the use case shows its decoy. ``ACTION``: only a
        real open session passes. Otherwise the PIN is asked for here (the prompt armed with
        ``resume``, which runs once the PIN is given) and nothing protected is read; a
        member without a PIN to check (staff: mandatory) is told to create one.
        """
        state, record = await self._state(member)
        if state is SessionState.OPEN or (
            rule is PinRule.DATA and state in {SessionState.NOT_NEEDED, SessionState.DECOY}
        ):
            return PinPass(decoy=state is SessionState.DECOY)
        if record is None or record.pin_hash is None:
            return PinMissing()
        await self._arm(member.id, PinPurpose.VERIFY, resume)
        lock = record.locked(self.clock.now())
        return PinAsked() if lock is None else PinLockedOut(lock.until)

    async def has_pin(self, member: Member) -> bool:
        """Whether the member has set a PIN."""
        record = await self.uow.pins.get(member.id)
        return record is not None and record.pin_hash is not None

    async def require_session(self, member: Member) -> None:
        """Let a privileged action through only inside an open PIN session (M-05).

        Raises:
            PinNotSet: a coordinator or administrator has no PIN yet (mandatory for them).
            PinRequired: no open session (a decoy session never counts): ask for the PIN.
        """
        state = await self.session(member)
        if state is SessionState.OPEN:
            return
        if state is SessionState.CLOSED and not await self.has_pin(member):
            raise PinNotSet
        raise PinRequired

    async def prompt_armed_for(self, telegram_id: int) -> bool:
        """Whether this account's next plain text is a PIN (one cheap lookup per text)."""
        return await self.uow.pins.prompt_armed_for(telegram_id, self.clock.now())

    async def disarm(self, member: Member) -> None:
        """Cancel a pending prompt (the member pressed a menu button instead)."""
        await self.uow.pins.clear_prompt(member.id)

    async def _arm(self, member_id: int, purpose: PinPurpose, then: Then | None) -> None:
        await self.uow.pins.set_prompt(
            PinPrompt(member_id, purpose, self.clock.now() + PROMPT_TTL, then=then)
        )

    async def ask(self, member: Member, then: Then | None = None) -> PinRecord:
        """Arm a PIN check; ``then`` names what to do once it succeeds (commands use
        ``admit``).

        The prompt is armed even while locked, so a PIN typed anyway is still swallowed and
        deleted; the returned record tells the handler whether to say "locked" instead.

        Raises:
            PinNotSet: there is no PIN to check.
        """
        record = await self.uow.pins.get(member.id)
        if record is None or record.pin_hash is None:
            raise PinNotSet
        await self._arm(member.id, PinPurpose.VERIFY, then)
        return record

    async def start_change(self, member: Member) -> PinPurpose:
        """``/pin``: create the PIN, or change it after typing the current one.

        The current PIN is asked every time, even inside an open session: a session opened
        by the duress PIN (a decoy) must look exactly like a real one, and asking only in
        one of them told them apart (issue #11.2). A member without a PIN creates one.

        Raises:
            NotAllowed: the member is not active.
        """
        authorize(member, Action.SET_PIN)
        if not await self.has_pin(member):
            await self._arm(member.id, PinPurpose.NEW, None)
            return PinPurpose.NEW
        await self._arm(member.id, PinPurpose.VERIFY, PinStep.CHANGE)
        return PinPurpose.VERIFY

    async def start_duress(self, member: Member) -> PinPurpose:
        """``/pin_duress``: set the duress PIN (informants with a PIN), after the current PIN.

        Asked every time, in real and decoy sessions alike (issue #11.2, see
        ``start_change``).

        Raises:
            NotAllowed: not an active informant.
            PinNotSet: there is no PIN yet (the duress PIN is a second PIN).
        """
        authorize(member, Action.SET_DURESS_PIN)
        if not await self.has_pin(member):
            raise PinNotSet
        await self._arm(member.id, PinPurpose.VERIFY, PinStep.DURESS)
        return PinPurpose.VERIFY

    # ------------------------------------------------------------------ the next text

    async def submit(self, member: Member, text: str) -> PinResult:
        """Handle the text a member typed while a prompt was armed (never logged)."""
        now = self.clock.now()
        prompt = await self.uow.pins.get_prompt(member.id)
        if prompt is None or prompt.expires_at <= now:
            return PinResult(PinOutcome.NO_PROMPT)
        if prompt.purpose is PinPurpose.VERIFY:
            return await self._verify(member, text, prompt, now)
        if prompt.purpose in {PinPurpose.NEW, PinPurpose.DURESS_NEW}:
            return await self._choose(member, text, prompt)
        return await self._confirm(member, text, prompt, now)

    def _check_both(self, pin: str | None, record: PinRecord | None) -> tuple[bool, bool]:
        """Two derivations whatever the input, so right, wrong and duress cost the same."""
        real = self.hasher.verify(pin, record.pin_hash if record else None)
        duress = self.hasher.verify(pin, record.duress_hash if record else None)
        return real, duress

    async def _verify(
        self, member: Member, text: str, prompt: PinPrompt, now: datetime
    ) -> PinResult:
        record = await self.uow.pins.get(member.id)
        lock = record.locked(now) if record else None
        if lock is not None:
            await self._arm(member.id, PinPurpose.VERIFY, prompt.then)
            return PinResult(PinOutcome.LOCKED, locked_until=lock.until)
        real, duress = await asyncio.to_thread(self._check_both, normalise_pin(text), record)
        if real or duress:
            return await self._succeed(member, prompt, now, decoy=duress and not real)
        return await self._fail(member, prompt, now)

    async def _succeed(
        self, member: Member, prompt: PinPrompt, now: datetime, *, decoy: bool
    ) -> PinResult:
        follow = {PinStep.CHANGE: PinPurpose.NEW, PinStep.DURESS: PinPurpose.DURESS_NEW}
        async with self.uow.transaction():
            await self.uow.pins.open_session(
                member.id, now + self.session_ttl, decoy=decoy, now=now
            )
            purpose = follow.get(prompt.then) if isinstance(prompt.then, PinStep) else None
            if purpose is not None:
                await self._arm(member.id, purpose, PinStep.DECOY if decoy else None)
            else:
                await self.uow.pins.clear_prompt(member.id)
            if decoy:
                await self.uow.pins.schedule_unlink(member.id, now + self.decoy_unlink_after)
                await notify_coordinators(
                    self.uow.members, self.uow.outbox, member, DuressPinUsed, now
                )
            await self.uow.audit.record(
                action="pin_verify",
                result="duress" if decoy else "ok",
                now=now,
                actor_id=member.id,
                actor_role=member.role,
                target=f"member:{member.id}",
            )
        return PinResult(PinOutcome.OK, then=prompt.then)

    async def _fail(self, member: Member, prompt: PinPrompt, now: datetime) -> PinResult:
        async with self.uow.transaction():
            failures = await self.uow.pins.add_failure(member.id, now)
            until = lock_after_failure(failures, now)
            reset = needs_reset(failures)
            if until is not None or reset:
                await self.uow.pins.set_lock(member.id, until, reset)
            await self._arm(member.id, PinPurpose.VERIFY, prompt.then)
            if failures == RESET_AFTER:  # told once, when it happens
                await notify_coordinators(
                    self.uow.members, self.uow.outbox, member, PinLocked, now
                )
            await self.uow.audit.record(
                action="pin_verify",
                result="locked" if until is not None or reset else "failed",
                now=now,
                actor_id=member.id,
                actor_role=member.role,
                target=f"member:{member.id}",
            )
        if until is not None or reset:
            return PinResult(PinOutcome.LOCKED, locked_until=until)
        return PinResult(PinOutcome.WRONG, attempts_left=LOCK_AFTER - failures)

    async def _choose(self, member: Member, text: str, prompt: PinPrompt) -> PinResult:
        pin = normalise_pin(text)
        if pin is None or is_weak(pin):
            await self._arm(member.id, prompt.purpose, prompt.then)
            return PinResult(PinOutcome.INVALID if pin is None else PinOutcome.WEAK)
        record = await self.uow.pins.get(member.id)
        # The new PIN must differ from the other one; inside a decoy session nothing real
        # may be revealed, so the comparison runs (same cost) but is ignored.
        other = None
        if record is not None:
            other = record.duress_hash if prompt.purpose is PinPurpose.NEW else record.pin_hash

        def work(candidate: str) -> tuple[bool, str]:
            return self.hasher.verify(candidate, other), self.hasher.hash(candidate)

        clash, hashed = await asyncio.to_thread(work, pin)
        if clash and prompt.then is not PinStep.DECOY:
            await self._arm(member.id, prompt.purpose, prompt.then)
            return PinResult(PinOutcome.CLASH)
        confirm = (
            PinPurpose.CONFIRM if prompt.purpose is PinPurpose.NEW else PinPurpose.DURESS_CONFIRM
        )
        await self.uow.pins.set_prompt(
            PinPrompt(
                member.id,
                confirm,
                self.clock.now() + PROMPT_TTL,
                then=prompt.then,
                pending_hash=hashed,
            )
        )
        return PinResult(PinOutcome.CONFIRM)

    async def _confirm(
        self, member: Member, text: str, prompt: PinPrompt, now: datetime
    ) -> PinResult:
        duress = prompt.purpose is PinPurpose.DURESS_CONFIRM
        same = await asyncio.to_thread(
            self.hasher.verify, normalise_pin(text), prompt.pending_hash
        )
        if not same:
            restart = PinPurpose.DURESS_NEW if duress else PinPurpose.NEW
            await self._arm(member.id, restart, prompt.then)
            return PinResult(PinOutcome.MISMATCH)
        assert prompt.pending_hash is not None  # noqa: S101 - verify() matched a hash
        async with self.uow.transaction():
            await self.uow.pins.clear_prompt(member.id)
            if prompt.then is not PinStep.DECOY:
                if duress:
                    await self.uow.pins.set_duress(member.id, prompt.pending_hash, now)
                else:
                    await self.uow.pins.set_pin(member.id, prompt.pending_hash, now)
                    await self.uow.pins.open_session(
                        member.id, now + self.session_ttl, decoy=False, now=now
                    )
            await self.uow.audit.record(
                action="pin_duress_set" if duress else "pin_set",
                result="decoy" if prompt.then is PinStep.DECOY else "ok",
                now=now,
                actor_id=member.id,
                actor_role=member.role,
                target=f"member:{member.id}",
            )
        return PinResult(PinOutcome.DURESS_SET if duress else PinOutcome.SET)

    # ------------------------------------------------------------------ coordinators

    async def reset(self, actor: Member, codename: str) -> Member:
        """``/pin_reset``: clear a member's PIN, duress PIN and lock (they set a new one).

        The coordinator must have confirmed, outside the bot, that the request comes from
        the person. Out of scope and unknown codenames are the same ``NotFound`` (M-04).

        Raises:
            PinNotSet, PinRequired: the actor has no open PIN session.
            NotFound: unknown codename, or not a member the actor may reset.
        """
        await self.require_session(actor)
        target = await find_member(
            self.uow.members, actor, codename, Action.RESET_PIN, self.denials, audit_as="pin_reset"
        )
        now = self.clock.now()
        async with self.uow.transaction():
            await self.uow.pins.clear(target.id)
            await self.uow.audit.record(
                action="pin_reset",
                result="ok",
                now=now,
                actor_id=actor.id,
                actor_role=actor.role,
                target=f"member:{target.id}",
            )
        return target

    async def reset_by_operator(self, codename: str) -> Member:
        """``chaski members reset-pin``: clear a member's PIN from the server (issue #14.7).

        For whom no one in the chat can reset: a sole administrator locked out of their own
        PIN. Whoever runs the command holds the database and its keys already; the reset is
        audited (``pin_reset`` / ``operator``) like a coordinator's.

        Raises:
            ValidationError: a malformed codename.
            NotFound: no member with that codename (any case).
        """
        target = await self.uow.members.by_codename_any_case(
            clean_name(codename, field="codename")
        )
        if target is None:
            raise NotFound("member")
        async with self.uow.transaction():
            await self.uow.pins.clear(target.id)
            await self.uow.audit.record(
                action="pin_reset",
                result="operator",
                now=self.clock.now(),
                target=f"member:{target.id}",
            )
        return target

    async def due_unlinks(self) -> list[int]:
        """Members whose duress-triggered unlink is due."""
        return await self.uow.pins.due_unlinks(self.clock.now())

    async def purge_prompts(self) -> int:
        """Drop expired prompts (housekeeping)."""
        return await self.uow.pins.purge_prompts(self.clock.now())


async def find_member(
    members: MemberRepository,
    actor: Member,
    codename: str,
    action: Action,
    denials: DenialWatch,
    *,
    audit_as: str,
) -> Member:
    """The member named ``codename`` (in any case: ``puma`` finds ``Puma``) if ``actor`` may
    do ``action`` to them.

    Every refusal (malformed, unknown or out-of-scope codename) is audited as ``audit_as``
    ``denied`` and counted by ``denials`` (T-11). All three cost the same write, so the
    actor cannot tell "exists in another region" from "does not exist" (M-04).

    Raises:
        NotFound: malformed or unknown codename, or out of the actor's scope (one error).
    """
    try:
        clean: str | None = clean_name(codename, field="codename")
    except ValidationError:
        clean = None
    target = await members.by_codename_any_case(clean) if clean is not None else None
    if target is None or not is_allowed(actor, action, target):
        await denials.denied(actor, audit_as, f"member:{target.id}" if target else None)
        raise NotFound("member")
    return target
