"""Writes for restart requests: OKAY in the confirmation window, or a POST to the API.

`restart_request_create` decides again who may restart what, writes the request
and one job per charger, and releases the first wave. What happens to the jobs
after that: waves.py (slots, sending), jobs.py (claim, answers, boots and
sessions), deadlines.py (the beat's safety net).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chargers.access import visible_chargers
from chargers.models import Charger
from restarts import matching, plans
from restarts.eligibility import REASONS, Evaluation, clean_ids, evaluate
from restarts.models import RestartJob, RestartRequest
from restarts.queue import queue_available
from restarts.waves import release_on_commit, restart_jobs_release
from tenancy import access, audit
from tenancy.models import Group


class RestartRefused(Exception):
    """Nothing may be done; `message` says why, in the user's language."""

    def __init__(self, code: str, message: str, evaluation: Evaluation | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.evaluation = evaluation


@dataclass(frozen=True)
class RestartStarted:
    """What a restart request started: the request, and the decision behind it.

    `evaluation` is None for a replay (the same idempotency key again): the first
    request as it stands, whose reasons were given the first time.
    """

    request: RestartRequest
    evaluation: Evaluation | matching.Summary | None = None

    @property
    def replayed(self) -> bool:
        return self.evaluation is None


def _common_group(chargers: Iterable[Charger]) -> Group | None:
    """The deepest group containing all `chargers`, for the audit trail."""
    return _common_group_of(c.group for c in chargers)


def _common_group_of(groups_of_chargers: Iterable[Group]) -> Group | None:
    """The deepest group containing all the chargers' groups."""
    groups = {g.path: g for g in groups_of_chargers}
    paths = [p.strip("/").split("/") for p in groups]
    common: list[str] = []
    for parts in zip(*paths, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if not common:
        return None
    path = "/" + "/".join(common) + "/"
    return groups.get(path) or Group.objects.filter(path=path).first()


@transaction.atomic
def restart_request_create(
    *,
    user,
    charger_ids: Iterable,
    mode: str = RestartRequest.Mode.DEFAULT,
    idempotency_key: str | None = None,
    source: str = RestartRequest.Source.WEB,
    ip: str | None = None,
    not_before: datetime | None = None,
) -> RestartStarted:
    """Restart the chargers among `charger_ids` that `user` may restart now.

    Eligibility is decided again here. Raises RestartRefused when nothing may be
    done. With the same `idempotency_key` a second call returns the first request
    (replayed) and creates nothing. With `not_before` (aware, in the future, within 30
    days) the jobs wait as `planned` until then (plans.py).
    """
    key = _checked_key(user=user, mode=mode, source=source, idempotency_key=idempotency_key)
    if isinstance(key, RestartStarted):
        return key
    _check_plan(not_before)
    asked = list(dict.fromkeys(clean_ids(charger_ids)))
    ids = [i for i in asked if i is not None]
    if not asked:
        raise RestartRefused("empty", _("No chargers were chosen."))
    _require_queue()
    now = timezone.now()
    restart_request = _claim(
        user=user, now=now, ip=ip, source=source, mode=mode, key=key, ids=ids, plan=not_before
    )
    if isinstance(restart_request, RestartStarted):
        return restart_request

    # Serialise requests for the same chargers, then decide with what is committed.
    list(
        visible_chargers(user)
        .filter(pk__in=ids)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    evaluation = evaluate(user, asked, now=now)
    if "not_found" in evaluation.left_out:
        # An id that is malformed, unknown or outside the user's groups refuses the
        # whole request: nothing partial, and the same answer whichever it was.
        raise RestartRefused(
            "not_found",
            _(
                "Nothing was restarted: the selection names chargers that do not exist "
                "or that you cannot see."
            ),
            evaluation,
        )
    if not evaluation.eligible:
        reasons = evaluation.left_out_reasons()
        code = reasons[0][0] if len(reasons) == 1 else "nothing_eligible"
        raise RestartRefused(
            code,
            _("Nothing was restarted. %(summary)s") % {"summary": evaluation.left_out_summary()},
            evaluation,
        )

    chargers = [e.charger for e in evaluation.eligible]
    _start_jobs(
        restart_request,
        user=user,
        ip=ip,
        now=now,
        chargers=[(c.pk, c.group_id, c.charge_point_id) for c in chargers],
        groups={c.group_id: c.group for c in chargers},
        audit_after={"left_out": {code: n for code, n, _r in evaluation.left_out_reasons()}},
        evaluation=evaluation,
    )
    return RestartStarted(restart_request, evaluation)


@transaction.atomic
def restart_request_create_matching(
    *,
    user,
    params: Mapping,
    removed: Iterable = (),
    mode: str = RestartRequest.Mode.DEFAULT,
    idempotency_key: str | None = None,
    source: str = RestartRequest.Source.WEB,
    ip: str | None = None,
    not_before: datetime | None = None,
) -> RestartStarted:
    """Restart everything matching the Opladere filter `params` that `user` may restart
    now, except the `removed` charger ids: the window of "all matching the filter".

    The filter is evaluated here, under the user's permissions, never taken from the
    client as ids; one locking query decides all of it. Same refusals and idempotency
    as `restart_request_create`, plus "bad_removals" for removals that are not ids.
    """
    key = _checked_key(user=user, mode=mode, source=source, idempotency_key=idempotency_key)
    if isinstance(key, RestartStarted):
        return key
    _check_plan(not_before)
    try:
        removed_ids = matching.clean_removals(removed)
    except matching.BadRemovals as exc:
        raise RestartRefused("bad_removals", str(exc)) from exc
    _require_queue()
    now = timezone.now()
    restart_request = _claim(
        user=user, now=now, ip=ip, source=source, mode=mode, key=key, ids=[], plan=not_before
    )
    if isinstance(restart_request, RestartStarted):
        return restart_request

    # Lock what matches (serialising requests for the same chargers) and decide it in the
    # same statement.
    rows = list(
        matching.matching(user, params, removed_ids, now=now)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", "group_id", "charge_point_id", "refusal")
    )
    several = len(rows) > 1
    chosen, left_out = [], {}
    for pk, group_id, cp_id, code in rows:
        if code == "" or (code == "no_business" and not several):
            chosen.append((pk, group_id, cp_id))
        else:
            left_out[code] = left_out.get(code, 0) + 1
    summary = _summary_of(rows, chosen, left_out)
    if not chosen:
        if not rows:
            raise RestartRefused("empty", _("No chargers match the filter."), None)
        code = next(iter(left_out)) if len(left_out) == 1 else "nothing_eligible"
        raise RestartRefused(
            code, _("Nothing was restarted. %(summary)s") % {"summary": summary.left_out_summary()}
        )
    RestartRequest.objects.filter(pk=restart_request.pk).update(asked_ids=[r[0] for r in rows])
    _start_jobs(
        restart_request,
        user=user,
        ip=ip,
        now=now,
        chargers=chosen,
        groups=Group.objects.in_bulk({group_id for _pk, group_id, _cp in chosen}),
        audit_after={
            "left_out": left_out,
            "filter": matching.filter_params(params),
            "removed": sorted(removed_ids),
        },
        release_now=len(chosen) <= settings.RESTART_SEND_BATCH,
    )
    return RestartStarted(restart_request, summary)


def _summary_of(rows, chosen, left_out) -> matching.Summary:
    """The decision as a one-line summary (no per-group detail: the window showed that)."""
    line = matching.GroupLine(None, restart=len(chosen), left_out=left_out)
    return matching.Summary(groups=[line], total=len(rows))


def _checked_key(*, user, mode, source, idempotency_key) -> str | RestartStarted:
    """The cleaned idempotency key, or the first request made with it (a replay)."""
    if mode not in RestartRequest.Mode.values:
        raise RestartRefused("bad_mode", _("Unknown restart mode."))
    if source not in RestartRequest.Source.values:
        raise RestartRefused("bad_source", _("Unknown source."))
    key = (idempotency_key or "").replace("\x00", "").strip()[:64]
    if key:
        existing = RestartRequest.objects.filter(requested_by=user, idempotency_key=key).first()
        if existing:
            return RestartStarted(existing)
    if not access.can_manage_any(user):
        raise RestartRefused("not_allowed", _("You may not restart chargers."))
    return key


def _require_queue() -> None:
    if not queue_available():
        # Refuse before writing anything: a request nobody can send would only show
        # "Genstarter" for chargers that are not being restarted.
        raise RestartRefused(
            "unavailable",
            _(
                "Restarts cannot be sent right now because the job queue is unavailable. "
                "Nothing was restarted; try again in a minute."
            ),
        )


def _check_plan(not_before) -> None:
    if not_before is None:
        return
    try:
        plans.check(not_before)
    except plans.BadPlan as exc:
        raise RestartRefused("bad_plan", str(exc)) from exc


def _claim(*, user, now, ip, source, mode, key, ids, plan) -> RestartRequest | RestartStarted:
    """Write the request, claiming its key first: a concurrent twin waits here for us,
    then finds ours (returned as a replay)."""
    restart_request = RestartRequest(
        requested_by=user,
        requested_by_name=user.get_username(),
        requested_at=now,
        ip_address=ip,
        source=source,
        mode=mode,
        asked_ids=ids,
        idempotency_key=key,
        not_before=plan,
    )
    try:
        with transaction.atomic():
            restart_request.save()
    except IntegrityError:
        if key:
            return RestartStarted(
                RestartRequest.objects.get(requested_by=user, idempotency_key=key)
            )
        raise
    return restart_request


def _start_jobs(
    restart_request,
    *,
    user,
    ip,
    now,
    chargers,
    groups,
    audit_after,
    evaluation=None,
    release_now=True,
) -> None:
    """One job per (charger id, group id, charge point id), the audit event, the first wave
    (now, or with `release_now` False by a release task right after commit: the answer
    to OKAY for thousands does not wait for their first wave to be claimed and queued)."""
    planned = restart_request.not_before is not None
    try:
        with transaction.atomic():
            _insert_jobs(restart_request, [pk for pk, _group, _cp in chargers], now)
    except IntegrityError as exc:  # a twin request won the race for a charger
        raise RestartRefused(
            "restarting", _("Nothing was restarted: %s.") % REASONS["restarting"], evaluation
        ) from exc
    audit.record(
        action="restart.requested",
        actor=user,
        ip=ip,
        group=_common_group_of(groups.values()),
        obj=restart_request,
        summary=(
            f"Restart of {len(chargers)} charger(s), mode {restart_request.mode}, "
            f"via {restart_request.source}"
        ),
        after={
            "chargers": [cp for _pk, _group, cp in chargers],
            **audit_after,
            "mode": restart_request.mode,
            **({"not_before": restart_request.not_before.isoformat()} if planned else {}),
        },
    )
    if planned:  # a plan's jobs wait for the beat (plans.restart_jobs_release_planned)
        return
    if release_now:
        restart_jobs_release(group_ids=set(groups), now=now)
    else:
        release_on_commit()


def _insert_jobs(restart_request: RestartRequest, charger_ids: list[int], now) -> None:
    """One queued (or planned) job per charger in ONE statement, `INSERT … SELECT unnest(ids)`.

    `bulk_create` builds a model and a dozen parameters per row in Python: 2 of the 3
    seconds of an OKAY for 10,000. Every other column takes its model default.
    """
    opts = RestartJob._meta
    given = {"request": restart_request.pk, "created_at": now}
    if restart_request.not_before is not None:
        given["state"] = RestartJob.State.PLANNED
    columns, values, params = [], [], []
    for f in opts.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.name == "charger":
            values.append("unnest(%s::bigint[])")
            params.append(charger_ids)
        else:
            values.append("%s")
            params.append(f.get_db_prep_save(given.get(f.name, f.get_default()), connection))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(opts.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)}",
            params,
        )
