"""The one authorization check (M-04): every handler and service asks ``authorize()``.

Deny by default; roles and regions come from the member record loaded for this update, never
from a cache or from callback data. "Not yours" is reported like "not found" by callers.
"""

from __future__ import annotations

from enum import StrEnum

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
    ANSWER_CHECKIN = "answer_checkin"
    ACK_HELP = "ack_help"
    MANAGE_MEMBERS = "manage_members"


#: Actions any active member may take about themselves.
_SELF_ACTIONS = frozenset({Action.CHOOSE_LANGUAGE, Action.ANSWER_CHECKIN})
_INFORMANT_ACTIONS = frozenset({Action.VIEW_OWN_CLAIMS})
_COORDINATOR_ACTIONS = frozenset({Action.SEND_ALERT, Action.APPROVE_ALERT, Action.ACK_HELP})
_ADMIN_ACTIONS = frozenset(
    {Action.SEND_ALERT, Action.APPROVE_ALERT, Action.ACK_HELP, Action.MANAGE_MEMBERS}
)

Target = Claim | frozenset[str] | None


def _in_scope(actor: Member, regions: frozenset[str]) -> bool:
    return bool(regions) and regions <= set(actor.regions)


def is_allowed(actor: Member, action: Action, target: Target = None) -> bool:
    """Pure decision: may ``actor`` do ``action`` on ``target``.

    ``target`` is a claim for claim actions, a set of region names for region-scoped
    actions (alerts, acknowledgements), else None. Admins are programme-wide.
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
