"""Add, edit and move chargers. Fetch through `chargers.access`, call a service, render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from chargers import manage_services
from chargers.access import get_manageable_charger, manageable_chargers
from chargers.forms import ChargerCreateForm, ChargerEditForm, ChargersMoveForm
from chargers.selectors import charger_filter
from tenancy import access
from tenancy.audit import client_ip
from tenancy.forms import add_service_errors, posted
from tenancy.ids import parse_id


def _password_shown_once(request, charger, password):
    """The only page that ever shows the OCPP password in clear: not cached, not stored."""
    return render(
        request, "chargers/charger_password.html", {"charger": charger, "password": password}
    )


@never_cache
@require_http_methods(["GET", "POST"])
def charger_add(request):
    user = request.user
    initial = {}
    if request.GET.get("group"):
        group = access.get_group_for_user(user, request.GET["group"])
        access.require(access.can_manage_chargers_in(user, group))
        initial["group"] = group.pk
    else:
        access.require(access.can_manage_any(user))
    form = ChargerCreateForm(posted(request), user=user, initial=initial)
    if form.is_valid():
        data = form.cleaned_data
        try:
            charger, password = manage_services.charger_create(
                actor=user,
                group=data["group"],
                charge_point_id=data["charge_point_id"],
                name=data["name"],
                model=data["model"],
                ocpp_version=data["ocpp_version"],
                supports_remote_restart=data["supports_remote_restart"],
                with_password=data["authentication"] == "generate",
                security_profile=data["security_profile"] or settings.OCPP_DEFAULT_SECURITY_PROFILE,
                ip=client_ip(request),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Charger “%(name)s” added.") % {"name": charger.name})
            if password:
                return _password_shown_once(request, charger, password)
            return redirect("groups:detail", charger.group_id)
    return render(request, "chargers/charger_form.html", {"form": form, "charger": None})


@never_cache
@require_http_methods(["GET", "POST"])
def charger_edit(request, pk):
    user = request.user
    charger = get_manageable_charger(user, pk)
    initial = {
        "name": charger.name,
        "model": charger.model,
        "ocpp_version": charger.ocpp_version,
        "supports_remote_restart": charger.supports_remote_restart,
        "security_profile": charger.security_profile,
        "group": charger.group_id,
        "password": "keep",
    }
    form = ChargerEditForm(posted(request), user=user, initial=initial)
    if form.is_valid():
        data = form.cleaned_data
        try:
            charger, password = manage_services.charger_update(
                actor=user,
                charger=charger,
                name=data["name"],
                model=data["model"],
                ocpp_version=data["ocpp_version"],
                supports_remote_restart=data["supports_remote_restart"],
                security_profile=data["security_profile"] or charger.security_profile,
                password=data["password"],
                group=data["group"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Charger “%(name)s” saved.") % {"name": charger.name})
            if password:
                return _password_shown_once(request, charger, password)
            return redirect("groups:detail", charger.group_id)
    return render(request, "chargers/charger_form.html", {"form": form, "charger": charger})


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def chargers_move(request):
    """Move the ticked chargers to another group, after a look at what will move.

    On the Opladere page this is the "Flyt" dialog (the partial, loaded with the
    page's selection); without HTMX it is a page of its own.
    """
    user = request.user
    access.require(access.can_manage_any(user))
    if request.method == "POST":
        # The service answers for every id: a foreign or missing one is a form error.
        chargers = (
            manageable_chargers(user)
            .filter(pk__in=[pk for i in request.POST.getlist("charger") if (pk := parse_id(i))])
            .select_related("group")
        )
    elif request.GET.get("scope") == "filter":
        # "All matching the filter" on the Opladere page: those of them one may move.
        chargers = list(
            charger_filter(user, request.GET)
            .filter(pk__in=manageable_chargers(user))
            .select_related("group")
        )
    else:
        chargers = [get_manageable_charger(user, pk) for pk in request.GET.getlist("charger")]
    form = ChargersMoveForm(posted(request), user=user)
    if form.is_valid():
        try:
            moved = manage_services.chargers_move(
                actor=user,
                charger_ids=request.POST.getlist("charger"),
                group=form.cleaned_data["group"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Chargers moved to %(group)s: %(count)s.")
                % {"count": len(moved), "group": form.cleaned_data["group"].name},
            )
            if request.htmx:
                # The page reloads: rows show their new group, the message shows.
                return HttpResponse(status=204, headers={"HX-Refresh": "true"})
            return redirect("chargers:list")
    template = "chargers/move.html#move_window" if request.htmx else "chargers/move.html"
    # A refused move (unknown or foreign charger, bad group) is a 422 with the form's
    # errors, like every other refusal; htmx swaps 422 in (base.html).
    status = 422 if request.method == "POST" else 200
    return render(request, template, {"form": form, "chargers": chargers}, status=status)
