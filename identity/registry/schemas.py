"""Marshmallow schemas of the population registry."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from identity.errors import CodedMessage, DomainError
from identity.schema_fields import BoundedDate
from identity.registry.personal_id import parse_personal_id


class PersonalIdField(fields.Field):
    """A personal id, checked by :func:`parse_personal_id` (each failure keeps its own code)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            parse_personal_id(value)
        except DomainError as exc:
            raise ValidationError(CodedMessage(exc.message, exc.code)) from exc
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class ProvinceRead(Schema):
    """A current province (2025 reform)."""

    code = fields.String(metadata={"example": "01"})
    name = fields.String(metadata={"example": "Thành phố Hà Nội"})
    kind = fields.String(metadata={"example": "thành phố trung ương"})


class CommuneRead(Schema):
    """A current commune, ward or special zone."""

    code = fields.String(metadata={"example": "00070"})
    name = fields.String(metadata={"example": "Phường Hoàn Kiếm"})
    kind = fields.String(metadata={"example": "phường"})
    province_code = fields.String(metadata={"example": "01"})


class FormerProvinceRead(Schema):
    """One of the 63 provinces of Circular 07/2016 (the first three digits of personal ids)."""

    code = fields.String(metadata={"example": "079"})
    name = fields.String(metadata={"example": "Thành phố Hồ Chí Minh"})
    merged_into = fields.String(metadata={"example": "79"})


class PersonalIdCheck(Schema):
    """A personal id to check, optionally with the date of birth and gender it must agree with."""

    personal_id = PersonalIdField(required=True, metadata={
        "type": "string", "pattern": "^[0-9]{12}$", "example": "001090012345"})
    date_of_birth = BoundedDate(load_default=None)
    gender = fields.String(load_default=None, validate=validate.OneOf(["M", "F"]))


class PersonalIdInfo(Schema):
    """What a well-formed personal id encodes. Says nothing of whether the citizen exists."""

    valid = fields.Boolean()
    province_of_registration = fields.Nested(FormerProvinceRead)
    gender = fields.String(metadata={"example": "M"})
    birth_year = fields.Integer(metadata={"example": 1990})
