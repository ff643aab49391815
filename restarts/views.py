"""The confirmation window "Genstart oplader", its OKAY, and the restart history."""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from restarts import cancel, exports, matching, plans, selectors, services
from restarts.eligibility import evaluate
from restarts.models import RestartRequest
from restarts.progress import progress_of
from tenancy import access
from tenancy.audit import client_ip
from tenancy.ids import parse_id


def _template(request, name: str, partial: str) -> str:
    return f"{name}#{partial}" if request.htmx else name


@require_GET
@vary_on_headers("HX-Request")
def restart_window(request):
    """List what the user may restart now among the selection (ticked ids, or the filter)."""
    template = _template(request, "restarts/window.html", "window")
    if not access.can_manage_any(request.user):
        context = {"refused": _("You may not restart chargers.")}
        return render(request, template, context, status=403)
    if request.GET.get("scope") == "filter":
        return _matching_window(request, template)
    evaluation = evaluate(request.user, request.GET.getlist("charger"))
    if not evaluation.eligible and set(evaluation.left_out) == {"not_found"}:
        # Only ids outside the user's groups: as if they did not exist.
        return render(request, template, {"refused": evaluation.left_out_summary()}, status=404)
    context = {
        "evaluation": evaluation,
        "idempotency_key": uuid.uuid4().hex,
        **_plan_context(request.user, {e.charger.group_id for e in evaluation.eligible}),
    }
    return render(request, template, context)


def _plan_context(user, group_ids) -> dict:
    """The window's Planlæg field: the organisation's time zone, preset to the next start
    of the chargers' shared maintenance window, else to the coming 03:00."""
    tz = plans.time_zone_for(user)
    default = plans.plan_default(tz, group_ids)
    return {
        "plan_tz": tz.key,
        "plan_default": f"{default.at:%Y-%m-%dT%H:%M}",
        "plan_note": default.note,
    }


def _foreign_group(request, params=None) -> bool:
    """The filter names a group the user cannot see (or none at all): a 404, as for ids."""
    raw = (request.GET if params is None else params).get("group")
    return bool(raw) and not access.visible_groups(request.user).filter(pk=parse_id(raw)).exists()


def _not_found(request, template):
    message = _("Nothing was restarted: the filter names a group that does not exist.")
    return render(request, template, {"refused": message}, status=404)


def _matching_window(request, template):
    """All matching the filter: a summary per group and the first page of the list."""
    if _foreign_group(request):
        return _not_found(request, template)
    qs = matching.matching(request.user, request.GET)
    summary = matching.summarise(qs)
    context = {
        "summary": summary,
        "page": matching.restart_page(qs, several=summary.several),
        "filter": matching.filter_params(request.GET),
        "idempotency_key": uuid.uuid4().hex,
        **_plan_context(request.user, [line.group.pk for line in summary.groups if line.restart]),
    }
    return render(request, template, context)


@require_GET
def restart_window_page(request):
    """A page of the window's list of all matching the filter, searched with `find`."""
    template = _template(request, "restarts/window.html", "window")
    if not access.can_manage_any(request.user):
        return render(
            request, template, {"refused": _("You may not restart chargers.")}, status=403
        )
    if _foreign_group(request):
        return _not_found(request, template)
    qs = matching.matching(request.user, request.GET)
    page = matching.restart_page(
        qs,
        several=qs.count() > 1,
        find=request.GET.get("find", ""),
        page=request.GET.get("page"),
    )
    return render(request, "restarts/window.html#matching_page", {"page": page})


def _posted_plan(post):
    """The window's planned time, in the time zone it was shown in."""
    try:
        return plans.parse_local(post.get("not_before", ""), post.get("plan_tz", ""))
    except plans.BadPlan as exc:
        raise services.RestartRefused("bad_plan", str(exc)) from exc


@require_POST
def restart_confirm(request):
    """OKAY: decide again and start the restarts; nothing twice for one window."""
    how = {
        "user": request.user,
        "mode": request.POST.get("mode") or RestartRequest.Mode.DEFAULT,
        "idempotency_key": request.POST.get("idempotency_key"),
        "source": RestartRequest.Source.WEB,
        "ip": client_ip(request),
    }
    try:
        if request.POST.get("when") == "plan":
            how["not_before"] = _posted_plan(request.POST)
        if request.POST.get("scope") == "filter":
            if _foreign_group(request, request.POST):
                return _not_found(request, _template(request, "restarts/window.html", "window"))
            # The filter and the removals, never ids: decided again here, as this user.
            started = services.restart_request_create_matching(
                params=request.POST, removed=request.POST.getlist("exclude"), **how
            )
        else:
            started = services.restart_request_create(
                charger_ids=request.POST.getlist("charger"), **how
            )
    except services.RestartRefused as refused:
        status = {
            "not_allowed": 403,
            "not_found": 404,
            "unavailable": 503,
            "bad_removals": 400,
            "bad_plan": 422,
        }.get(refused.code, 409)
        template = _template(request, "restarts/window.html", "window")
        return render(request, template, {"refused": refused.message}, status=status)

    restart_request = started.request
    count = restart_request.jobs.count()
    message = _("Chargers being restarted: %(count)d.") % {"count": count}
    if restart_request.not_before:
        message = _("Chargers planned for restart at %(time)s: %(count)d.") % {
            "time": selectors.plan_text(restart_request.not_before, request.POST.get("plan_tz")),
            "count": count,
        }
    if not request.htmx:
        # A form sent without htmx (no script, or before it took over the window): back
        # to the page the window was opened on, if it is ours, else to Opladere.
        messages.success(request, message)
        back = request.POST.get("next", "")
        if url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(back)
        return redirect("chargers:list")
    response = render(request, "restarts/window.html#started", {"message": message})
    return trigger_client_event(
        response, "restartStarted", {"message": message, "request": restart_request.pk}
    )


@require_GET
def history(request):
    page = Paginator(selectors.history_for(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "restarts/history.html", {"page_obj": page})


@require_GET
@vary_on_headers("HX-Request")
def history_detail(request, pk):
    restart_request = get_object_or_404(RestartRequest, pk=pk)
    jobs = list(selectors.jobs_for(request.user, restart_request))
    if not jobs:  # none of its chargers are yours: as if it did not exist
        raise Http404
    context = {
        "restart_request": restart_request,
        "jobs": jobs,
        "plan_tz": jobs[0].charger.group.organisation.time_zone,
        "cancellable": any(cancel.is_not_yet_sent(job) for job in jobs),
        # Polls itself every 2 s while a job is under way (the page's one request).
        "progress": progress_of(selectors.jobs_in_scope(request.user, restart_request)),
    }
    template = _template(request, "restarts/history_detail.html", "request_state")
    return render(request, template, context)


@require_GET
def history_export(request):
    """Eksportér CSV: every job the user may see, newest request first, streamed."""
    return exports.csv_response(selectors.jobs_in_scope(request.user), _("restarts.csv"))


@require_GET
def history_detail_export(request, pk):
    restart_request = get_object_or_404(RestartRequest, pk=pk)
    jobs = selectors.jobs_in_scope(request.user, restart_request)
    if not jobs.exists():  # none of its chargers are yours: as if it did not exist
        raise Http404
    filename = _("restart-%(id)d.csv") % {"id": restart_request.pk}
    return exports.csv_response(jobs, filename)
