"""What an account may do, by its state: the one table every citizen request is checked against.

An account's state says how far the service vouches for it. ``active``: the
phone was the registry's, or an officer reviewed it; the account speaks for
the citizen. ``pending_review``: an applicant typed in a phone that is not the
registry's, so nothing yet says the applicant is the citizen: the account may
see its own registration's status and withdraw it, nothing else (no registry
data, credential, document, report, residence declaration, payment, consent,
access log). ``locked``, ``rejected`` and ``closed`` may do nothing: their
tokens are revoked already, and the table refuses them as well (defence in
depth, should a token outlive its revocation).

``app/auth.py``'s ``citizen_required(act)`` calls :func:`require` on every
citizen request; each route names its act. The security test
``tests/security/test_account_states.py`` walks every operation of the
OpenAPI document in every state against this table.
"""
from __future__ import annotations

import enum

from identity.accounts.errors import AccountNotActive
from identity.accounts.models import ACTIVE, CLOSED, LOCKED, PENDING_REVIEW, REJECTED, Account


class Act(str, enum.Enum):
    """A named act a citizen asks the service to do through an account."""

    STATUS_READ = "status.read"                        # own registration's status
    REGISTRATION_WITHDRAW = "registration.withdraw"    # withdraw a pending registration
    IDENTITY_READ = "identity.read"                    # the registry record (GET /me)
    NOTIFICATIONS_READ = "notifications.read"
    ACCESS_LOG_READ = "access_log.read"                # who read the citizen's data
    ACCOUNT_LOCK = "account.lock"
    PASSCODE_CHANGE = "passcode.change"
    PASSWORD_CHANGE = "password.change"
    CREDENTIAL_ISSUE = "credential.issue"              # a state-signed QR credential
    CREDENTIAL_READ = "credential.read"
    CREDENTIAL_REVOKE = "credential.revoke"
    DOCUMENTS_READ = "documents.read"                  # the document wallet
    DOCUMENT_PRESENT = "documents.present"             # a credential of a document
    REPORT_FILE = "report.file"                        # a report in the citizen's name
    REPORT_READ = "report.read"
    REPORT_ANSWER = "report.answer"                    # messages and evidence on a report
    RESIDENCE_DECLARE = "residence.declare"            # stays, absences, lodging, host answers
    RESIDENCE_READ = "residence.read"
    PAYMENT_READ = "payment.read"
    PAYMENT_PAY = "payment.pay"                        # pay, or take a receipt's credential
    CONSENT_READ = "consent.read"
    CONSENT_DECIDE = "consent.decide"
    DATA_SHARING_READ = "data_sharing.read"
    DATA_ERASURE_REQUEST = "data_sharing.erasure"


#: Everything an active account may do: all but withdrawing a registration it no longer has.
_ACTIVE_ACTS = frozenset(Act) - {Act.REGISTRATION_WITHDRAW}

#: The table: for each account state, the acts it may do. A state not here may do nothing.
STATE_ACTS: dict[str, frozenset[Act]] = {
    ACTIVE: _ACTIVE_ACTS,
    PENDING_REVIEW: frozenset({Act.STATUS_READ, Act.REGISTRATION_WITHDRAW, Act.ACCOUNT_LOCK}),
    LOCKED: frozenset(),
    REJECTED: frozenset(),
    CLOSED: frozenset(),
}

#: What each refused state is told to do.
_ADVICE = {
    PENDING_REVIEW: "It waits for a police officer's review, because the phone given at "
                    "registration is not the one in the registry; until then it can only see "
                    "its status (GET /api/v1/me/status) or withdraw the registration.",
    LOCKED: "Unlock it with an SMS code and the password, or at a police office.",
    REJECTED: "The registration was rejected; register again with the phone in the registry, "
              "or visit a police office.",
    CLOSED: "The account was closed; register again or visit a police office.",
}


def allows(status: str, act: Act) -> bool:
    """Whether an account in ``status`` may do ``act``."""
    return act in STATE_ACTS.get(status, frozenset())


def require(account: Account, act: Act) -> None:
    """Let ``act`` through for ``account``, or raise ``account.not_active`` (403) saying why."""
    if not allows(account.status, act):
        advice = _ADVICE.get(account.status, "Visit a police office.")
        raise AccountNotActive(f"The account is {account.status}: it cannot do {act.value}. "
                               f"{advice}")
