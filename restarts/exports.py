"""Restart jobs as CSV, streamed: the report a fleet manager owes a site owner.

One row per job (charger, group, state, outcome, evidence, times). The page and the
API give the same file. It is written row by row from a server-side cursor
(`QuerySet.iterator`), so 10,000 jobs never sit in memory at once; which jobs a
user gets is decided by `restarts.selectors.jobs_in_scope`, never here.

For Excel: UTF-8 with a byte order mark (so Danish letters survive), ";" between
fields in Danish (Danish Excel's list separator, "," being its decimal mark) and ","
in English. Times are the local time of the charger's organisation
(`Organisation.time_zone`), named in their own column, as Excel reads them as dates.
Cells that Excel would run as a formula (=, +, -, @) are quoted with a leading '.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils import translation
from django.utils.translation import gettext as _

from restarts.models import OUTCOME_TEXT, RestartJob

CHUNK = 1000
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """A file-like object whose write() hands back the line: csv.writer without a buffer."""

    def write(self, value: str) -> str:
        return value


def delimiter(language: str | None) -> str:
    return ";" if (language or "").startswith("da") else ","


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _time(value, tz) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def outcome_text(state: str) -> str:
    """The job's outcome in words, from the state table."""
    return str(OUTCOME_TEXT[RestartJob.State(state).meaning.outcome])


def header() -> list[str]:
    return [
        _("Request"),
        _("Requested at"),
        _("Requested by"),
        _("Mode"),
        _("Source"),
        _("Charger"),
        _("Charge point id"),
        _("Serial number"),
        _("Organisation"),
        _("Group"),
        _("State"),
        _("State (code)"),
        _("Outcome"),
        _("Confirmed by"),
        _("Detail"),
        _("Reset type"),
        _("Queued at"),
        _("Sent at"),
        _("Accepted at"),
        _("Finished at"),
        _("Time zone"),
    ]


def row(job: RestartJob) -> list[str]:
    organisation = job.charger.group.organisation
    tz = organisation.tzinfo
    request = job.request
    return [
        str(request.pk),
        _time(request.requested_at, tz),
        request.requested_by_name,
        request.get_mode_display(),
        request.get_source_display(),
        job.charger.name,
        job.charger.charge_point_id,
        job.charger.serial_number,
        organisation.name,
        job.charger.group.name,
        job.get_state_display(),
        job.state,
        outcome_text(job.state),
        job.get_confirmed_by_display() if job.confirmed_by else "",
        job.detail_text,
        job.reset_type,
        _time(job.created_at, tz),
        _time(job.sent_at, tz),
        _time(job.accepted_at, tz),
        _time(job.finished_at, tz),
        organisation.time_zone,
    ]


def lines(jobs, language: str) -> Iterator[str]:
    """The file, one CSV line at a time, in `language`, the BOM first."""
    with translation.override(language):
        writer = csv.writer(_Line(), delimiter=delimiter(language))
        yield BOM + writer.writerow(header())
        rows = (
            jobs.select_related("request", "charger__group__organisation")
            .order_by("-request__requested_at", "-request_id", "charger__name", "pk")
            .iterator(chunk_size=CHUNK)
        )
        for job in rows:
            yield writer.writerow([_cell(value) for value in row(job)])


def csv_response(jobs, filename: str, language: str | None = None) -> StreamingHttpResponse:
    language = language or translation.get_language() or "da"
    response = StreamingHttpResponse(
        _encoded(lines(jobs, language)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _encoded(chunks: Iterable[str]) -> Iterator[bytes]:
    """Lines gathered into blocks of about 64 KiB: fewer, larger writes to the socket."""
    block: list[str] = []
    size = 0
    for chunk in chunks:
        block.append(chunk)
        size += len(chunk)
        if size >= 65536:
            yield "".join(block).encode()
            block, size = [], 0
    if block:
        yield "".join(block).encode()
