import zoneinfo

from django import template
from django.conf import settings
from django.utils import formats, timezone

from restarts.models import RestartJob
from tenancy import access

register = template.Library()


@register.filter
def job_kind(state: str) -> str:
    """The state's badge kind, from the state table."""
    return RestartJob.State(state).meaning.badge


@register.filter
def job_detail(job: RestartJob) -> str:
    """The job's detail in the reader's language when it is one of ours, else as recorded."""
    return job.detail_text


@register.filter
def can_restart(user) -> bool:
    """Whether to offer restart actions at all (the server decides again on every request)."""
    return access.can_manage_any(user)


@register.filter
def plan_time(not_before, tz_name: str | None) -> str:
    """A planned time in the chargers' organisation's time zone (as the rows show it)."""
    if not not_before:
        return ""
    try:
        tz = zoneinfo.ZoneInfo(tz_name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return formats.date_format(timezone.localtime(not_before, tz), "SHORT_DATETIME_FORMAT")
