"""Writes that add, edit and move chargers. The rules live here, not in the views.

Each service checks the actor's rights through `tenancy.access` after locking the
groups involved (so a group cannot be deleted under a charger being put into it)
and records the change in the audit trail in the same transaction.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from functools import partial

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from chargers import signals
from chargers.access import manageable_chargers
from chargers.models import Charger
from tenancy import access, audit
from tenancy.models import Group

# OCPP 2.0.1 BasicAuthPassword is 16–40 characters, 1.6's security whitepaper
# asks for 16–20: 20 letters and digits fit both.
OCPP_PASSWORD_LENGTH = 20
# The identity goes into the websocket URL and, as the user name, into HTTP Basic
# auth: URL-safe, no colon, at most 48 characters (OCPP 2.0.1's limit).
CHARGE_POINT_ID = re.compile(r"^[A-Za-z0-9._-]{1,48}$")
EDITABLE_FIELDS = ("name", "model", "ocpp_version", "supports_remote_restart", "security_profile")
Profile = Charger.SecurityProfile


def new_ocpp_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(OCPP_PASSWORD_LENGTH))


def _lock_group(group: Group, *, field: str = "group") -> Group:
    try:
        return Group.objects.select_for_update().select_related("organisation").get(pk=group.pk)
    except Group.DoesNotExist as exc:
        raise ValidationError({field: _("That group no longer exists.")}) from exc


def _state(charger: Charger) -> dict:
    return {
        "charge_point_id": charger.charge_point_id,
        "name": charger.name,
        "group": charger.group.name,
        "model": charger.model,
        "ocpp_version": charger.ocpp_version,
        "supports_remote_restart": charger.supports_remote_restart,
        "ocpp_password": bool(charger.password_hash),
        "security_profile": charger.security_profile,
    }


def _check_profile(charger: Charger) -> None:
    """Profile 2 is TLS *and* a password: a profile-2 charger without one could not connect.

    Profile 3 keeps a password if it has one (unused by the gateway), so lowering it
    back to 2 works at once.
    """
    if charger.security_profile == Profile.TLS_PASSWORD and not charger.password_hash:
        raise ValidationError(
            {
                "security_profile": _(
                    "Profile 2 needs an OCPP password: make one, or choose another profile."
                )
            }
        )


def _announce_raised_profile(charger: Charger) -> None:
    """Once committed: a socket below the new floor is closed (chargers.signals)."""
    transaction.on_commit(
        partial(
            signals.security_profile_raised.send_robust,
            sender=Charger,
            charger_id=charger.pk,
            charge_point_id=charger.charge_point_id,
            profile=charger.security_profile,
        ),
        robust=True,
    )


def _check_manages(actor, group: Group, *, field: str = "group") -> None:
    access.clear_cache(actor)
    if not access.can_manage_chargers_in(actor, group):
        raise ValidationError({field: _("You cannot manage chargers in that group.")})


@transaction.atomic
def charger_create(
    *,
    actor,
    group: Group,
    charge_point_id: str,
    name: str,
    model: str = "",
    ocpp_version: str = Charger.OcppVersion.V16,
    supports_remote_restart: bool = True,
    with_password: bool = True,
    security_profile: int = Profile.PASSWORD,
    ip: str | None = None,
) -> tuple[Charger, str | None]:
    """Add a charger to `group`. Returns the charger and its new OCPP password: the only
    time it exists in clear; only its keyed hash is stored. Secure by default: a charger
    without a password (`with_password=False`) is an explicit choice, recorded as such,
    since anyone who knows its charge point id can then connect as it."""
    group = _lock_group(group)
    _check_manages(actor, group)
    charge_point_id = (charge_point_id or "").strip()
    if not CHARGE_POINT_ID.match(charge_point_id):
        raise ValidationError(
            {
                "charge_point_id": _(
                    "Use 1–48 letters, digits, dots, hyphens or underscores: the id the "
                    "charger is configured with."
                )
            }
        )
    if Charger.objects.filter(charge_point_id__iexact=charge_point_id).exists():
        raise ValidationError(
            {"charge_point_id": _("A charger with this charge point id already exists.")}
        )
    charger = Charger(
        group=group,
        charge_point_id=charge_point_id,
        name=name.strip(),
        model=model.strip(),
        ocpp_version=ocpp_version,
        supports_remote_restart=supports_remote_restart,
        security_profile=security_profile,
    )
    password = new_ocpp_password() if with_password else None
    charger.set_ocpp_password(password)
    _check_profile(charger)
    charger.full_clean()
    try:
        with transaction.atomic():
            charger.save()
    except IntegrityError as exc:  # the same id added at the same moment elsewhere
        raise ValidationError(
            {"charge_point_id": _("A charger with this charge point id already exists.")}
        ) from exc
    audit.record(
        action="charger.create",
        actor=actor,
        ip=ip,
        group=group,
        obj=charger,
        summary=charger.name,
        after=_state(charger) | ({} if with_password else {"no_password_chosen": True}),
    )
    return charger, password


@transaction.atomic
def charger_update(
    *,
    actor,
    charger: Charger,
    password: str = "keep",
    group: Group | None = None,
    ip: str | None = None,
    **fields,
) -> tuple[Charger, str | None]:
    """Change a charger's name, model, OCPP version, restart capability or security
    profile, set
    (`password="new"`), keep or remove (`"remove"`) its OCPP password, and move it
    to `group` if given. The charge point id is the charger's own configuration and
    does not change here."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable here: {sorted(unknown)}")
    try:
        charger = Charger.objects.select_for_update().select_related("group").get(pk=charger.pk)
    except Charger.DoesNotExist as exc:
        raise ValidationError(_("This charger no longer exists.")) from exc
    _check_manages(actor, charger.group)
    before = _state(charger)
    for field, value in fields.items():
        setattr(charger, field, value.strip() if isinstance(value, str) else value)
    new_password = None
    if password == "new":
        new_password = new_ocpp_password()
        charger.set_ocpp_password(new_password)
    elif password == "remove":
        charger.set_ocpp_password(None)
    _check_profile(charger)
    charger.full_clean()
    charger.save(update_fields=[*EDITABLE_FIELDS, "password_hash"])
    after = _state(charger)
    if after["security_profile"] > before["security_profile"]:
        _announce_raised_profile(charger)
    if after != before or new_password:
        audit.record(
            action="charger.update",
            actor=actor,
            ip=ip,
            group=charger.group,
            obj=charger,
            summary=charger.name,
            before=before,
            after=after | ({"ocpp_password": "new"} if new_password else {}),
        )
    if group is not None and group.pk != charger.group_id:
        chargers_move(actor=actor, charger_ids=[charger.pk], group=group, ip=ip)
        charger.refresh_from_db()
    return charger, new_password


@transaction.atomic
def chargers_move(
    *, actor, charger_ids: Iterable, group: Group, ip: str | None = None
) -> list[Charger]:
    """Move the chargers with `charger_ids` into `group`. The actor must manage every
    one of them and the target group; otherwise nothing moves."""
    try:
        ids = sorted({int(pk) for pk in charger_ids})
    except (TypeError, ValueError) as exc:
        raise ValidationError({"chargers": _("Unknown charger in the selection.")}) from exc
    if not ids:
        raise ValidationError({"chargers": _("Tick at least one charger.")})
    group = _lock_group(group)
    _check_manages(actor, group)
    chargers = list(
        manageable_chargers(actor)
        .select_for_update(of=("self",))
        .select_related("group")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    if len(chargers) != len(ids):
        # The same answer for a charger that does not exist and one outside the
        # actor's groups: nobody can probe for ids.
        raise ValidationError({"chargers": _("Unknown charger in the selection.")})
    moved = []
    for charger in chargers:
        if charger.group_id == group.pk:
            continue
        before = {"group": charger.group.name, "group_path": charger.group.path}
        charger.group = group
        charger.save(update_fields=["group"])
        audit.record(
            action="charger.move",
            actor=actor,
            ip=ip,
            group=group,
            obj=charger,
            summary=charger.name,
            before=before,
            after={"group": group.name, "group_path": group.path},
        )
        moved.append(charger)
    return moved
