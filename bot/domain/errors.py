"""Expected outcomes as exceptions, one meaning each; handlers map them to translated text.

"Not yours" and "does not exist" are deliberately the same error, so nothing can be probed.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every expected, user-explainable failure."""


class ValidationError(DomainError):
    """Input that does not parse into a domain value (the message names the field, no data)."""


class NotAllowed(DomainError):
    """The actor may not perform the action on the target (deny by default, M-04)."""


class NotFound(DomainError):
    """Unknown, or not visible to the actor: indistinguishable on purpose."""


class InviteRejected(DomainError):
    """Invite unknown, used, expired, revoked, or the account is locked (one reason for all)."""


class Conflict(DomainError):
    """Something changed meanwhile (compare-and-set lost, duplicate); reopen and retry."""


class InvalidTransition(DomainError):
    """A claim status change the life cycle does not allow."""


class Unavailable(DomainError):
    """Storage busy or failing: the user is told to try later, nothing half-written (R-10)."""
