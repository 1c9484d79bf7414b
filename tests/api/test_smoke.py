"""The skeleton answers: health, OpenAPI, docs, uniform errors."""


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_unknown_route_has_uniform_error_body(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json == {"status": 404, "code": "not_found", "message": response.json["message"],
                             "errors": {}}
