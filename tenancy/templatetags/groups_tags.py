"""Template tags of the group pages that other pages reuse."""

from django import template

from tenancy import selectors

register = template.Library()


@register.inclusion_tag("groups/_business_notice.html", takes_context=True)
def bulk_restart_notice(context):
    """The one-line notice, where bulk actions are, that bulk restart needs Wallbox
    Business: shown when an organisation whose chargers the user manages lacks it."""
    request = context.get("request")
    user = getattr(request, "user", None)
    lacking = selectors.organisations_without_business(user) if user else []
    return {"lacking": lacking}
