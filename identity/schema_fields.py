"""Fields and base schemas shared by every domain's schemas.

- :class:`PageArgs` and :class:`Page`: the query arguments of a paginated list
  and the base of its answer (``items`` is each page's own).
- :class:`PhoneField` and :class:`NameField`: a phone number and a full name,
  put through the registry's normalisers, keeping their error codes.
- :class:`BoundedDate`, :class:`BoundedDateTime`, :class:`BoundedAwareDateTime`:
  dates bounded to years a request can mean, below.

Python's dates end on 9999-12-31. A date at that edge parses, and the first
``+ timedelta(days=1)`` of a service (a deadline, an inclusive ``to`` day, the
end of a period) raises ``OverflowError``: a 500 for a typing error or a probe.
Every date a client sends is a birth date or the day of an event of the
service's lifetime, so the fields below refuse anything outside
:data:`EARLIEST_YEAR`..:data:`LATEST_YEAR` with a 422 ``date.out_of_range``
naming the field, before any service sees it. (``app/errors.py`` also turns
an overflow that slips through into a 422: the bound is the rule, the net the
safety.)

Use them in place of marshmallow's ``fields.Date``, ``fields.DateTime`` and
``fields.AwareDateTime`` in every schema that loads input.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from identity.errors import CodedMessage, DomainError
from identity.registry.normalise import normalise_name, normalise_phone


# --- Pages -----------------------------------------------------------------------------------

class PageArgs(Schema):
    """Pagination."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class Page(Schema):
    """A page of results."""

    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# --- Phones and names -----------------------------------------------------------------------

class _Checked(fields.String):
    """A string put through a registry normaliser, keeping its error code."""

    normaliser: Any = None

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            return type(self).normaliser(value, field=attr or "value")
        except DomainError as exc:
            raise ValidationError(CodedMessage(exc.message, exc.code)) from exc


class PhoneField(_Checked):
    """A Vietnamese mobile number, given back in national form (``0912345678``)."""

    normaliser = staticmethod(normalise_phone)


class NameField(_Checked):
    """A full name, NFC, single-spaced, letters only."""

    normaliser = staticmethod(normalise_name)


# --- Dates -----------------------------------------------------------------------------------

#: The years a date of a request may fall in: birth dates and the events of the service.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200


def _check_year(value: dt.date) -> None:
    """Refuse a date (or date-time) outside the years a request may mean."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValidationError(CodedMessage(
            f"The date must fall in the years {EARLIEST_YEAR} to {LATEST_YEAR}.",
            "date.out_of_range"))


def _described(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Say the bound in the OpenAPI document (after any description of the field's own)."""
    metadata = dict(kwargs.pop("metadata", None) or {})
    bound = f"Years {EARLIEST_YEAR} to {LATEST_YEAR}."
    metadata["description"] = (f"{metadata['description']}. {bound}"
                               if metadata.get("description") else bound)
    return {**kwargs, "metadata": metadata}


class _Bounded:
    """The bound shared by the date fields below: described in the document, checked on load."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **_described(kwargs))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[misc]
        _check_year(loaded)
        return loaded


class BoundedDate(_Bounded, fields.Date):
    """An ISO date (``YYYY-MM-DD``) in :data:`EARLIEST_YEAR`..:data:`LATEST_YEAR`."""


class BoundedDateTime(_Bounded, fields.DateTime):
    """An ISO date-time in :data:`EARLIEST_YEAR`..:data:`LATEST_YEAR`."""


class BoundedAwareDateTime(_Bounded, fields.AwareDateTime):
    """An ISO date-time with a time zone (or the field's default one), in the bounded years."""
