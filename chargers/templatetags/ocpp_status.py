"""{% ocpp_status value %}: an OCPP status as its label and colour dot (chargers.statuses)."""

from django import template
from django.utils.html import format_html

from chargers.statuses import status_of

register = template.Library()


@register.simple_tag
def ocpp_status(value):
    status = status_of(value)
    if not status.value:
        return "–"
    return format_html(
        '<span class="status {}" data-ocpp-status="{}">{}</span>',
        status.css,
        status.value,
        status.label,
    )
