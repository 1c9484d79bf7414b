"""Registry reference data and the personal id check through HTTP."""
from __future__ import annotations

import pytest

from tests.flows import assert_error


def test_provinces(client):
    provinces = client.get("/api/v1/admin-units/provinces").get_json()
    assert len(provinces) == 34
    assert provinces[0] == {"code": "01", "name": "Thành phố Hà Nội",
                            "kind": "thành phố trung ương"}


def test_communes_of_a_province(client):
    communes = client.get("/api/v1/admin-units/provinces/01/communes").get_json()
    assert {"code": "00070", "name": "Phường Hoàn Kiếm", "kind": "phường",
            "province_code": "01"} in communes
    assert all(c["province_code"] == "01" for c in communes)


def test_communes_of_an_unknown_province(client):
    assert_error(client.get("/api/v1/admin-units/provinces/99/communes"), 404,
                 "province.not_found")


def test_former_provinces(client):
    former = client.get("/api/v1/admin-units/former-provinces").get_json()
    assert len(former) == 63
    assert {"code": "074", "name": "Bình Dương", "merged_into": "79"} in former


def test_check_a_valid_personal_id(client):
    response = client.post("/api/v1/personal-ids/check", json={
        "personal_id": "079190012345", "date_of_birth": "1990-05-01", "gender": "F"})
    assert response.status_code == 200
    assert response.get_json() == {
        "valid": True, "gender": "F", "birth_year": 1990,
        "province_of_registration": {"code": "079", "name": "Thành phố Hồ Chí Minh",
                                     "merged_into": "79"}}


@pytest.mark.parametrize("payload, code", [
    ({"personal_id": 79190012345}, "personal_id.type"),
    ({"personal_id": "07919001234"}, "personal_id.length"),
    ({"personal_id": "0791900123456"}, "personal_id.length"),
    ({"personal_id": "０７９１９００１２３４５"}, "personal_id.digits"),
    ({"personal_id": "079 90012345"}, "personal_id.digits"),
    ({"personal_id": "003190012345"}, "personal_id.province"),
    ({"personal_id": "079190012345", "date_of_birth": "2090-05-01"},
     "personal_id.century_gender"),
    ({"personal_id": "079190012345", "gender": "M"}, "personal_id.century_gender"),
    ({"personal_id": "079190012345", "date_of_birth": "1991-05-01"}, "personal_id.birth_year"),
])
def test_each_personal_id_rule_has_its_code(client, payload, code):
    body = assert_error(client.post("/api/v1/personal-ids/check", json=payload), 422, code)
    assert "personal_id" in body["errors"]


@pytest.mark.parametrize("payload", [{}, {"personal_id": "079190012345", "gender": "X"},
                                     {"personal_id": "079190012345", "date_of_birth": "1990-13-01"},
                                     {"personal_id": "079190012345", "extra": 1}])
def test_other_invalid_fields(client, payload):
    assert_error(client.post("/api/v1/personal-ids/check", json=payload), 422,
                 "request.invalid")


def test_malformed_json(client):
    response = client.post("/api/v1/personal-ids/check", data='{"personal_id": ',
                           content_type="application/json")
    assert_error(response, 400, "request.malformed_json")


def test_oversized_body(client):
    response = client.post("/api/v1/personal-ids/check", data="x" * (2 * 1024 * 1024),
                           content_type="application/json")
    assert_error(response, 413, "request.too_large")
