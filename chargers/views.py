"""The Opladere page and a charger's own page.

What restarts add to them (row state, polling, history) comes through
`chargers.extensions`, registered from above."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from chargers import extensions, selectors
from chargers.access import get_charger_for_user, manageable_chargers
from chargers.statuses import status_choices
from tenancy import access

PAGE_SIZE = 50
COLUMNS = [
    ("name", _("Name")),
    ("id", _("Charge point id / serial")),
    ("group", _("Group")),
    ("model", _("Model")),
    ("firmware", _("Firmware")),
    ("connection", _("Connection")),
    ("status", _("OCPP status")),
    ("seen", _("Last seen")),
]


def _columns(params, sort: str) -> list[dict]:
    """Header links: a click sorts by the column, a second click reverses it."""
    columns = []
    for key, label in COLUMNS:
        query = params.copy()
        query["sort"] = f"-{key}" if sort == key else key
        aria = {key: "ascending", f"-{key}": "descending"}.get(sort)
        columns.append({"label": label, "query": query.urlencode(), "aria_sort": aria})
    return columns


@require_GET
@vary_on_headers("HX-Request")
def charger_list(request):
    chargers = extensions.annotate_rows(
        selectors.charger_filter(request.user, request.GET).select_related("group")
    )
    page = Paginator(chargers, PAGE_SIZE).get_page(request.GET.get("page"))
    banners = extensions.banners(request.user)  # e.g. a bulk restart's progress
    poll = extensions.shortest_poll(
        extensions.decorate_rows(page.object_list), *(b.poll for b in banners)
    )
    params = request.GET.copy()
    params.pop("page", None)
    sort = selectors.clean_sort(request.GET.get("sort"))
    context = {
        "page_obj": page,
        "poll": poll,
        "banners": banners,
        "query": params.urlencode(),
        "columns": _columns(params, sort),
        "filters": {k: request.GET.get(k, "") for k in ("q", "group", "status", "ocpp_status")},
        "sort": sort,
        "can_manage": access.can_manage_any(request.user),
    }
    context["glance"] = selectors.fleet_glance(request.user, request.GET)
    if request.htmx:
        # The fleet at a glance travels out of band with the rows (and their poll).
        context["glance_oob"] = True
        return render(request, "chargers/list.html#charger_rows", context)
    context["groups"] = access.visible_groups(request.user).select_related("organisation")
    context["statuses"] = {k: f.label for k, f in selectors.status_filters().items()}
    context["ocpp_statuses"] = status_choices()
    return render(request, "chargers/list.html", context)


@require_GET
@vary_on_headers("HX-Request")
def charger_detail(request, pk):
    charger = get_charger_for_user(request.user, pk)
    manages = manageable_chargers(request.user).filter(pk=charger.pk).exists()
    context = {
        "charger": charger,
        **extensions.detail_context(charger),  # e.g. "jobs" and "poll" from restarts
        "can_restart": manages,
        "can_edit": manages,
    }
    if request.htmx:
        return render(request, "chargers/detail.html#charger_state", context)
    context["strip"] = selectors.charger_strip(charger)
    return render(request, "chargers/detail.html", context)
