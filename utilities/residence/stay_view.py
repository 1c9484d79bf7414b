"""What the declarant of a temporary stay is shown: the same whoever the named host is.

A declarant names the host by personal id, and the stay's course depends on
who that is: a host with an active account confirms in the app (the case
starts ``awaiting_host``, ``host_check`` ``app``); anyone else (no account, an
account not active, or an id the registry does not know) is checked in person
by the commune police (``awaiting_check``, ``in_person``, ``decide_by`` set at
once). Shown as it is, that would tell anyone holding a stranger's ID-card
details whether the stranger has an active VNeID account. So the declarant
sees a projection (:class:`DeclarantStay`), while the host, the police and the
workflow keep the real states:

- ``awaiting_host`` and ``awaiting_check`` are one state, ``awaiting_host``:
  "waiting for the host's confirmation, in the app or before the commune
  police". ``allowed_actions`` are the same in both (``withdraw``).
- ``host_check`` is ``host`` for ``app`` and ``in_person``; ``self`` (the
  declarant's own place) stays, as the declarant knows it already.
- ``submitted_at`` is when the host was confirmed (in the app, or by the
  officer's ``check_host``), and ``decide_by`` is hidden until then: an
  in-person case has its deadline from the declaration on.
- History: the waiting states are projected the same way, and the step that
  confirms the host (``confirm_host`` by the host, ``check_host`` by an
  officer) is shown as ``confirm_host`` by ``host``, without its note.

Notifications and the access log follow suit in :mod:`utilities.residence.stays`:
the ``residence.stay_declared`` event carries no ``host_check`` (officers read
it on the stay), and an officer's ``check_host`` tells the declarant what a
host's confirmation in the app tells them.

What stays different, after a person has acted and never at declaration: the
declarant's access log names who acted on the case (the host's confirmation,
or the officer's check: that log exists to say who touched their data), a host
who refuses in the app ends the case ``refused_by_host`` where the police
would ``reject`` it, and an in-person case's deadline counts from the
declaration.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from utilities.residence.models import HOST_SELF

#: The one state a declarant is shown while the stay waits for its host's confirmation.
DECLARANT_WAITING = "awaiting_host"
#: The host check a declarant is shown for any host other than themselves.
HOST_SHOWN = "host"
#: The real states waiting for the host (in the app, or before the commune police).
WAITING_STATES = frozenset({"awaiting_host", "awaiting_check"})
#: The steps that confirm the host: by the host in the app, or by an officer in person.
HOST_STEPS = frozenset({"confirm_host", "check_host"})


def declarant_state(status: str) -> str:
    """The state the declarant is shown for the real ``status``."""
    return DECLARANT_WAITING if status in WAITING_STATES else status


def declarant_state_or_none(status: str | None) -> str | None:
    """:func:`declarant_state`, keeping "no state" (a history row's first ``from_state``)."""
    return None if status is None else declarant_state(status)


@dataclass(frozen=True)
class DeclarantStep:
    """One history row of a stay as its declarant sees it (fields of ``HistoryEntry``)."""

    action: str
    from_state: str | None
    to_state: str
    role: str
    by: str | None
    note: str | None
    occurred_at: dt.datetime

    @classmethod
    def of(cls, event: Any) -> DeclarantStep:
        """Project one workflow event: waiting states as one, the host's confirmation as one."""
        step = cls(action=event.action, from_state=declarant_state_or_none(event.from_state),
                   to_state=declarant_state(event.to_state), role=event.role, by=event.by,
                   note=event.note, occurred_at=event.occurred_at)
        if event.action in HOST_STEPS:
            # Who confirmed the host (the host in the app, or an officer in person) is what
            # tells whether the host has an active account: shown alike, without the note.
            return cls(action="confirm_host", from_state=step.from_state,
                       to_state=step.to_state, role="host", by="host", note=None,
                       occurred_at=step.occurred_at)
        return step


class DeclarantStay:
    """A temporary stay (with its ``history``, when the view has one) as its declarant sees it.

    Every attribute not projected here is the stay's own.
    """

    def __init__(self, stay: Any) -> None:
        """Wrap ``stay`` (a ``TemporaryStay`` or a view of one with its history)."""
        self._stay = stay

    def __getattr__(self, name: str) -> Any:
        """The stay's own attribute."""
        return getattr(self._stay, name)

    @property
    def status(self) -> str:
        """The projected state (see :func:`declarant_state`)."""
        return declarant_state(self._stay.status)

    @property
    def host_check(self) -> str:
        """``self`` for the declarant's own place, else ``host``."""
        return HOST_SELF if self._stay.host_check == HOST_SELF else HOST_SHOWN

    @property
    def submitted_at(self) -> dt.datetime | None:
        """When the case reached the police for their decision, as the declarant may know it.

        The declarant's own place: at once; another host: when the host was confirmed
        (an in-person case is in the police's queue from the declaration, which would tell).
        """
        if self._stay.host_check == HOST_SELF:
            return self._stay.submitted_at
        return self._stay.host_confirmed_at

    @property
    def decide_by(self) -> dt.datetime | None:
        """The police's deadline, once the host is confirmed (hidden while waiting for them)."""
        return self._stay.decide_by if self.submitted_at is not None else None

    @property
    def history(self) -> list[DeclarantStep]:
        """The history, projected step by step (only on a view that carries one)."""
        return [DeclarantStep.of(event) for event in self._stay.history]


def declarant_view(stay: Any) -> DeclarantStay:
    """``stay`` as its declarant sees it (a view already projected is returned as it is)."""
    return stay if isinstance(stay, DeclarantStay) else DeclarantStay(stay)
