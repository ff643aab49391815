"""GET /api/v1/restarts/export and /api/v1/restarts/{id}/export: the history's CSV, by token."""

from tests.api.conftest import bearer
from tests.restarts.test_exports import make_request, read


def test_a_token_gets_the_same_csv_as_the_page_in_the_callers_language(client, rfleet):
    f = rfleet
    make_request(f.super_admin, [*f.ready, f.elsewhere, f.foreign])
    response = client.get("/api/v1/restarts/export", HTTP_ACCEPT_LANGUAGE="en", **bearer(f.admin))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    (header, *rows), delimiter = read(response)
    assert delimiter == ","
    assert header[5] == "Charger"
    assert sorted(row[5] for row in rows) == ["Syd 01", "Syd 02", "Syd 03"]


def test_one_requests_export_is_404_when_none_of_its_chargers_are_yours(client, rfleet):
    f = rfleet
    mine = make_request(f.admin, f.ready[:2])
    foreign = make_request(f.super_admin, [f.foreign])
    response = client.get(f"/api/v1/restarts/{mine.pk}/export", **bearer(f.admin))
    assert sorted(row[5] for row in read(response)[0][1:]) == ["Syd 01", "Syd 02"]
    refused = client.get(f"/api/v1/restarts/{foreign.pk}/export", **bearer(f.admin))
    assert refused.status_code == 404
    assert refused.json()["code"] == "not_found"
    assert client.get("/api/v1/restarts/export").status_code == 401


def test_the_schema_documents_the_exports_as_csv(client, rfleet):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in ("/api/v1/restarts/export", "/api/v1/restarts/{restart_id}/export"):
        answer = paths[path]["get"]["responses"]["200"]
        assert "text/csv" in answer["content"]
        assert "time zone" in answer["description"]
