"""Eksportér CSV: the history's and a request's jobs as a file Excel opens, streamed."""

import csv
import io
from datetime import UTC, datetime

from restarts.models import RestartJob, RestartRequest

State = RestartJob.State
WHEN = datetime(2026, 7, 1, 10, 0, 0, tzinfo=UTC)  # summer: København is UTC+2


def make_request(who, chargers, state=State.DONE, **job_fields) -> RestartRequest:
    request = RestartRequest.objects.create(
        requested_by=who,
        requested_by_name=who.username,
        requested_at=WHEN,
        source=RestartRequest.Source.WEB,
        mode=RestartRequest.Mode.DEFAULT,
        asked_ids=[c.pk for c in chargers],
        language="da",
    )
    for charger in chargers:
        RestartJob.objects.create(
            request=request, charger=charger, state=state, created_at=WHEN, **job_fields
        )
    return request


def read(response):
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode())  # Excel reads UTF-8 only with its BOM
    text = body.decode("utf-8-sig")
    delimiter = ";" if text.split("\n", 1)[0].count(";") > 1 else ","
    return list(csv.reader(io.StringIO(text), delimiter=delimiter)), delimiter


def test_the_history_export_has_one_row_per_job_of_the_users_chargers_only(client, fleet):
    everywhere = [*fleet.ready, fleet.elsewhere, fleet.foreign]
    make_request(fleet.super_admin, everywhere, confirmed_by=RestartJob.Confirmation.BOOT)
    client.force_login(fleet.admin)

    response = client.get("/restarts/history/export.csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="genstarter.csv"'
    rows, delimiter = read(response)
    assert delimiter == ";"  # Danish Excel's list separator
    header, *jobs = rows
    assert header[:6] == ["Anmodning", "Anmodet", "Anmodet af", "Måde", "Kilde", "Oplader"]
    assert sorted(row[5] for row in jobs) == ["Syd 01", "Syd 02", "Syd 03"]
    row = dict(zip(header, jobs[0], strict=True))
    assert row["Organisation"] == "Nordlys"
    assert row["Gruppe"] == "P-hus Syd"
    assert row["Tilstand (kode)"] == "done"
    assert row["Bekræftet ved"] == "BootNotification"
    assert row["Anmodet"] == "2026-07-01 12:00:00"  # the organisation's time, not UTC
    assert row["Tidszone"] == "Europe/Copenhagen"


def test_times_follow_the_chargers_organisation_time_zone(client, fleet):
    fleet.org.time_zone = "America/New_York"
    fleet.org.save(update_fields=["time_zone"])
    make_request(fleet.admin, fleet.ready[:1], sent_at=WHEN, finished_at=WHEN)
    client.force_login(fleet.admin)
    header, row = read(client.get("/restarts/history/export.csv"))[0]
    row = dict(zip(header, row, strict=True))
    assert row["Sendt"] == row["Afsluttet"] == "2026-07-01 06:00:00"
    assert row["Tidszone"] == "America/New_York"


def test_a_requests_export_gives_its_failures_reasons_and_is_404_for_strangers(client, fleet):
    restart = make_request(fleet.admin, fleet.ready[:2], State.NO_ANSWER, detail="no_result")
    foreign = make_request(fleet.super_admin, [fleet.foreign])
    make_request(fleet.admin, fleet.ready[2:])  # another request: not in this file
    client.force_login(fleet.admin)

    response = client.get(f"/restarts/history/{restart.pk}/export.csv")
    header, *jobs = read(response)[0]
    assert response["Content-Disposition"] == f'attachment; filename="genstart-{restart.pk}.csv"'
    assert [row[5] for row in jobs] == ["Syd 01", "Syd 02"]
    row = dict(zip(header, jobs[0], strict=True))
    assert row["Tilstand"] == "Intet svar"
    assert row["Detalje"] == "opladeren svarede ikke i tide"
    assert client.get(f"/restarts/history/{foreign.pk}/export.csv").status_code == 404
    assert client.get("/restarts/history/999999/export.csv").status_code == 404


def test_in_english_the_file_is_comma_separated_with_english_words(client, fleet):
    make_request(fleet.admin, fleet.ready[:1])
    client.force_login(fleet.admin)
    response = client.get("/restarts/history/export.csv", headers={"Accept-Language": "en"})
    (header, row), delimiter = read(response)
    assert delimiter == ","
    assert response["Content-Disposition"] == 'attachment; filename="restarts.csv"'
    assert header[10:13] == ["State", "State (code)", "Outcome"]
    assert row[10:13] == ["Done", "done", "Restarted"]


def test_a_cell_excel_would_run_as_a_formula_is_written_as_text(client, fleet):
    charger = fleet.ready[0]
    charger.name = '=HYPERLINK("http://evil","Syd")'
    charger.save(update_fields=["name"])
    make_request(fleet.admin, [charger], State.REJECTED, detail="-1+2")
    client.force_login(fleet.admin)
    header, row = read(client.get("/restarts/history/export.csv"))[0]
    row = dict(zip(header, row, strict=True))
    assert row["Oplader"] == "'" + charger.name
    assert row["Detalje"] == "'-1+2"


def test_ten_thousand_jobs_stream_from_one_cursor(client, fleet, django_assert_max_num_queries):
    restart = make_request(fleet.admin, [])
    RestartJob.objects.bulk_create(
        RestartJob(request=restart, charger=fleet.ready[i % 3], state=State.DONE, created_at=WHEN)
        for i in range(10_000)
    )
    client.force_login(fleet.admin)
    with django_assert_max_num_queries(8):  # session, user, scope, one cursor: not per chunk
        response = client.get(f"/restarts/history/{restart.pk}/export.csv")
        rows, _ = read(response)
    assert len(rows) == 10_001


def test_the_history_pages_offer_the_export(client, fleet):
    restart = make_request(fleet.admin, fleet.ready[:1])
    client.force_login(fleet.admin)
    page = client.get("/restarts/history/").content.decode()
    assert 'href="/restarts/history/export.csv" download>Eksportér CSV</a>' in page
    page = client.get(f"/restarts/history/{restart.pk}/").content.decode()
    assert f'href="/restarts/history/{restart.pk}/export.csv" download>Eksportér CSV</a>' in page
