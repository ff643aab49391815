from django import template

from restarts.models import RestartJob
from tenancy import access

register = template.Library()

KINDS = {RestartJob.State.DONE: "ok", RestartJob.State.SCHEDULED: "warn"}


@register.filter
def job_kind(state: str) -> str:
    if state in RestartJob.FAILED:
        return "bad"
    if state in RestartJob.RESETTING:
        return "busy"
    return KINDS.get(state, "")


@register.filter
def job_detail(job: RestartJob) -> str:
    """The job's detail in the reader's language when it is one of ours, else as recorded."""
    return str(RestartJob.DETAILS.get(job.detail, job.detail))


@register.filter
def can_restart(user) -> bool:
    """Whether to offer restart actions at all (the server decides again on every request)."""
    return access.can_manage_any(user)
