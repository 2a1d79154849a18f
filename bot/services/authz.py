"""The one authorization check (M-04): every handler and service asks ``authorize()``.

Deny by default; roles and regions come from the member record loaded for this update, never
from a cache or from callback data. "Not yours" is reported like "not found" by callers.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain.alerts import Alert, Approval
from bot.domain.claims import AmountRequest
from bot.domain.errors import NotAllowed
from bot.domain.models import Claim, Member, Role


class Action(StrEnum):
    """Everything a member can ask the bot to do."""

    VIEW_OWN_CLAIMS = "view_own_claims"
    VIEW_CLAIM = "view_claim"
    CHOOSE_LANGUAGE = "choose_language"
    UPDATE_CLAIM = "update_claim"
    SEND_ALERT = "send_alert"
    APPROVE_ALERT = "approve_alert"
    WITHDRAW_ALERT = "withdraw_alert"
    ANSWER_CHECKIN = "answer_checkin"
    ACK_HELP = "ack_help"
    MANAGE_MEMBERS = "manage_members"
    ANSWER_ALERT = "answer_alert"
    VIEW_ALERTS = "view_alerts"
    FOLLOW_UP_ALERT = "follow_up_alert"
    SET_PIN = "set_pin"
    SET_DURESS_PIN = "set_duress_pin"
    WIPE_SELF = "wipe_self"
    UNLINK_MEMBER = "unlink_member"
    RESET_PIN = "reset_pin"
    APPROVE_CLAIM_AMOUNT = "approve_claim_amount"
    MANAGE_SCHEDULES = "manage_schedules"
    VIEW_OWN_REMINDERS = "view_own_reminders"
    #: The operations report in chat (``/informe``): coordinators for their regions (#16.6).
    VIEW_REPORT = "view_report"


#: Actions any active member may take about themselves.
_SELF_ACTIONS = frozenset(
    {
        Action.CHOOSE_LANGUAGE,
        Action.ANSWER_CHECKIN,
        Action.ANSWER_ALERT,
        Action.SET_PIN,
        Action.WIPE_SELF,
        Action.VIEW_OWN_REMINDERS,
    }
)
#: The duress PIN's decoy is an empty claim list, which only informants have (M-13b).
_INFORMANT_ACTIONS = frozenset({Action.VIEW_OWN_CLAIMS, Action.SET_DURESS_PIN})
#: Actions on another member's account (remote unlink M-13c, PIN reset M-05).
_MEMBER_ACTIONS = frozenset({Action.UNLINK_MEMBER, Action.RESET_PIN})
_COORDINATOR_ACTIONS = frozenset(
    {
        Action.SEND_ALERT,
        Action.APPROVE_ALERT,
        Action.ACK_HELP,
        Action.VIEW_ALERTS,
        Action.MANAGE_SCHEDULES,
        Action.VIEW_REPORT,
    }
)
_ADMIN_ACTIONS = frozenset(
    {
        Action.SEND_ALERT,
        Action.APPROVE_ALERT,
        Action.ACK_HELP,
        Action.MANAGE_MEMBERS,
        Action.VIEW_ALERTS,
        Action.MANAGE_SCHEDULES,
        Action.VIEW_REPORT,
    }
)

Target = Claim | Alert | Member | AmountRequest | frozenset[str] | None


def _in_scope(actor: Member, regions: frozenset[str]) -> bool:
    return bool(regions) and regions <= set(actor.regions)


def _on_member(actor: Member, action: Action, target: Member) -> bool:
    """Administrators act on anyone but themselves; coordinators only on informants of one
    of their regions (a lost coordinator phone is an administrator's job)."""
    if action not in _MEMBER_ACTIONS or target.id == actor.id:
        return False
    return actor.role is Role.ADMIN or (
        actor.role is Role.COORDINATOR
        and target.role is Role.INFORMANT
        and target.region in actor.regions
    )


def _on_alert(actor: Member, action: Action, alert: Alert) -> bool:
    """The two-person rule (M-14, T-14) and whose approval counts (issue #12.3).

    Seeing a sent alert's answers (codenames of who asked for help or has not answered),
    sending its "all clear" and writing to someone who asked for help (issue #12.5) belong to
    its author and to the staff of all its regions (administrators: every region); the
    author keeps them for a cross-region alert a peer approved.

    Only the author withdraws a pending alert; the author never approves it. An alert that
    needs an administrator (text a person wrote, or over the threshold) is approved only by
    an administrator: a second coordinator, colluding or coerced, is not enough. A template
    alert beyond its author's regions is approved by an administrator or by a coordinator of
    every one of its regions.
    """
    if actor.role not in {Role.COORDINATOR, Role.ADMIN}:
        return False
    if action is Action.WITHDRAW_ALERT:
        return alert.creator_id == actor.id
    if action in {Action.VIEW_ALERTS, Action.FOLLOW_UP_ALERT}:
        return (
            alert.creator_id == actor.id
            or actor.role is Role.ADMIN
            or _in_scope(actor, frozenset(alert.regions))
        )
    if action is not Action.APPROVE_ALERT or alert.creator_id == actor.id:
        return False
    if actor.role is Role.ADMIN:
        return True
    return alert.approval is Approval.PEER and _in_scope(actor, frozenset(alert.regions))


def is_allowed(actor: Member, action: Action, target: Target = None) -> bool:
    """Pure decision: may ``actor`` do ``action`` on ``target``.

    ``target`` is a claim for claim actions, an alert for approving, withdrawing, viewing or
    following it up, a member for actions
    on another member's account (unlink, PIN reset), a set of region names for region-scoped
    actions (sending and viewing alerts, acknowledgements, the operations report), else None.
    Admins are programme-wide.
    """
    if not actor.active:
        return False
    if action in _SELF_ACTIONS:
        return target is None
    if isinstance(target, Claim):
        if action is Action.VIEW_CLAIM:
            if actor.role is Role.INFORMANT:
                return target.member_id == actor.id
            return actor.role is Role.ADMIN or target.region in actor.regions
        if action is Action.UPDATE_CLAIM:
            return actor.role is Role.ADMIN or (
                actor.role is Role.COORDINATOR and target.region in actor.regions
            )
        return False
    if isinstance(target, Alert):
        return _on_alert(actor, action, target)
    if isinstance(target, AmountRequest):
        # Two people for money promised to a person (M-14): never the requester; a
        # coordinator of the claim's region or an administrator.
        return (
            action is Action.APPROVE_CLAIM_AMOUNT
            and target.requester_id != actor.id
            and (
                actor.role is Role.ADMIN
                or (actor.role is Role.COORDINATOR and target.region in actor.regions)
            )
        )
    if isinstance(target, Member):
        return _on_member(actor, action, target)
    if actor.role is Role.INFORMANT:
        return action in _INFORMANT_ACTIONS and target is None
    if actor.role is Role.ADMIN:
        return action in _ADMIN_ACTIONS
    if action in _COORDINATOR_ACTIONS:
        return isinstance(target, frozenset) and _in_scope(actor, target)
    return False


def authorize(actor: Member, action: Action, target: Target = None) -> None:
    """Raise ``NotAllowed`` unless ``is_allowed``.

    Raises:
        NotAllowed: denied (callers turn it into the neutral reply or "not found").
    """
    if not is_allowed(actor, action, target):
        raise NotAllowed(action)
