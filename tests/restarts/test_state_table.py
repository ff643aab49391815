"""One state table: every page and API shows a job state as `RestartJob.State` declares it."""

import html
import re
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation

from api import tokens
from restarts.exports import outcome_text
from restarts.models import OUTCOME_TEXT, RestartJob, RestartRequest
from restarts.selectors import plan_text

State = RestartJob.State
HTMX = {"HX-Request": "true"}


def restart(fleet, charger, state, **fields):
    planned = timezone.now() + timedelta(hours=2) if state == State.PLANNED else None
    req = RestartRequest.objects.create(
        requested_by=fleet.admin,
        requested_by_name="a",
        source="web",
        mode="default",
        not_before=planned,
    )
    return RestartJob.objects.create(request=req, charger=charger, state=state, **fields)


def row_text(job) -> str:
    """The row's words for a job's state, from the table (a plan's with its time)."""
    with translation.override("da"):
        text = str(job.state_meaning.row_text)
        return text % {"time": plan_text(job.request.not_before)} if "%(" in text else text


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue_pair(user).token}"}


def da(text) -> str:
    with translation.override("da"):
        return str(text)


def test_every_state_has_one_consistent_meaning():
    for member in State:
        meaning = member.meaning
        assert (meaning.outcome is None) == (not meaning.final), member
        assert meaning.outcome in (None, "success", "warning", "failure", "neutral"), member
        if meaning.restarting or meaning.holds_row:
            assert not meaning.final and meaning.row_text, member
        with translation.override("en"):
            english = str(member.label)
        assert da(member.label) != english, member  # translated
    assert set(State.restarting()) <= set(State.holding_row()) <= set(State.unfinished())
    assert {m.meaning.outcome for m in State} == set(OUTCOME_TEXT)  # each outcome has words
    assert {"waiting", "unconfirmed", "cancelled"} <= set(State.values)
    assert "waiting" in State.restarting() and "scheduled" not in State.restarting()
    assert State.UNCONFIRMED.meaning.outcome == "warning"
    assert da(State.UNCONFIRMED.label) == "Tilbage, men genstart ikke bekræftet"


def test_the_database_allows_one_unfinished_job_per_charger_as_the_table_lists_them(fleet):
    """The partial constraint and index are derived from the table (and migrated)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname IN "
            "('restartjob_one_unfinished_per_charger', 'restartjob_unfinished')"
        )
        definitions = [row[0] for row in cursor.fetchall()]
    assert len(definitions) == 2
    for definition in definitions:
        listed = set(re.findall(r"'(\w+)'::", definition))
        assert listed == set(State.unfinished()), definition

    charger = fleet.ready[0]
    restart(fleet, charger, State.WAITING)
    with pytest.raises(IntegrityError), transaction.atomic():
        restart(fleet, charger, State.QUEUED)
    restart(fleet, fleet.ready[1], State.CANCELLED, finished_at=timezone.now())
    restart(fleet, fleet.ready[1], State.UNCONFIRMED, finished_at=timezone.now())
    restart(fleet, fleet.ready[1], State.QUEUED)  # finals never block a new restart


def _row(body: str, charger) -> str:
    return re.search(rf'<tr data-charger-id="{charger.pk}".*?</tr>', body, re.S).group(0)


@pytest.mark.parametrize("state", State.values)
def test_each_state_reads_the_same_on_rows_history_charger_page_and_both_apis(client, fleet, state):
    member = State(state)
    meaning = member.meaning
    charger = fleet.ready[0]
    job = restart(fleet, charger, state, finished_at=timezone.now() if meaning.final else None)
    client.force_login(fleet.admin)

    # The Opladere row and the charger page: the row text and badge, disabled or not.
    rows = client.get("/chargers/", headers=HTMX).content.decode()
    page = client.get(f"/chargers/{charger.pk}/").content.decode()
    row = _row(rows, charger)
    if meaning.row_text:
        badge = (
            f'<span class="badge {meaning.badge}" data-restart-state="{state}">'
            f"{html.escape(row_text(job))}</span>"
        )
        assert badge in row and badge in page
    else:
        assert "data-restart-state" not in row
    assert ('aria-disabled="true"' in row) == (state in State.holding_row())

    # The history (the request's page and the charger's latest restarts): label and badge.
    outcome = f'<span class="badge {meaning.badge}">{html.escape(da(member.label))}</span>'
    detail = client.get(f"/restarts/history/{job.request_id}/").content.decode()
    assert outcome in detail and outcome in page

    # The CSV export: the state's label, code and outcome words.
    response = client.get(f"/restarts/history/{job.request_id}/export.csv")
    export = b"".join(response.streaming_content).decode("utf-8-sig")
    assert f"{da(member.label)};{state};{da(OUTCOME_TEXT[meaning.outcome])}" in export
    assert outcome_text(state) == da(OUTCOME_TEXT[meaning.outcome])

    # The history list counts the job under its outcome.
    history = client.get("/restarts/history/").content.decode()
    cells = re.search(r"<tbody>\s*<tr>(.*?)</tr>", history, re.S).group(1)
    counts = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", cells)]
    # When, Who, Chargers, Done, Not confirmed, Failed, Cancelled, In progress, How
    by_outcome = dict(
        zip(["success", "warning", "failure", "neutral", None], counts[3:8], strict=True)
    )
    assert by_outcome == {k: "1" if k == meaning.outcome else "0" for k in by_outcome}

    # Our API: the job, and the charger's restart badge and state.
    auth = bearer(fleet.admin)
    body = client.get(f"/api/v1/restarts/{job.request_id}", **auth).json()
    (out,) = body["jobs"]
    assert (out["state"], out["state_text"]) == (state, da(member.label))
    assert (out["final"], out["outcome"]) == (meaning.final, meaning.outcome)
    items = client.get("/api/v1/chargers", {"q": charger.name}, **auth).json()["items"]
    (item,) = [i for i in items if i["id"] == charger.pk]
    restarting = state in State.restarting()
    assert (item["state"] == "restarting") == restarting
    if meaning.row_text:
        assert item["restart"] == {
            "state": state,
            "busy": state in State.holding_row(),
            "restarting": restarting,
            "text": row_text(job),
            "badge": meaning.badge,
            "outcome": meaning.outcome,
        }
    else:
        assert item["restart"] is None
    listed = client.get("/api/v1/chargers", {"status": "restarting"}, **auth).json()["items"]
    assert (charger.pk in {i["id"] for i in listed}) == restarting

    # The Wallbox-compatible API: Updating (166) exactly while restarting.
    status = client.get(f"/chargers/status/{charger.pk}", **auth).json()
    assert (status["status_id"] == 166) == restarting
    groups = client.get("/v3/chargers/groups", **auth).json()["result"]["groups"]
    (summary,) = [c for g in groups for c in g["chargers"] if c["id"] == charger.pk]
    assert (summary["status"] == 166) == restarting
