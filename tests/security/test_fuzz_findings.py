"""What the fuzzing found, pinned: each a 4xx with the uniform body now, never a 500."""
from __future__ import annotations

import pytest

from tests.flows import Holder, assert_error, bearer


@pytest.fixture()
def token(client, db_session, protector) -> str:
    return Holder.make(client, db_session, protector).token


@pytest.mark.parametrize("path", [
    "/api/v1/residence/stays/655729371316065171761278230724608",
    "/api/v1/residence/stays/9223372036854775808",
    "/api/v1/residence/stays/0",
])
def test_an_id_beyond_64_bits_is_not_found(client, token, path):
    assert_error(client.get(path, headers=bearer(token)), 404, "not_found")


def test_the_largest_64_bit_id_is_looked_up(client, token):
    assert_error(client.get("/api/v1/residence/stays/9223372036854775807",
                            headers=bearer(token)), 404, "residence.stay_not_found")


def test_an_unknown_query_parameter_is_refused(client, token):
    answer = client.get("/api/v1/me/access-log?page=1&pagee=2", headers=bearer(token))
    body = assert_error(answer, 422, "request.invalid")
    assert "pagee" in body["errors"]
