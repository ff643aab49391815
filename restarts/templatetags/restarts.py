from django import template

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
