"""Writes for restart requests: OKAY in the confirmation window, or a POST to the API.

`restart_request_create` decides again who may restart what, writes the request
and one job per charger, and releases the first wave. What happens to the jobs
after that: waves.py (slots, sending), jobs.py (claim, answers, boots and
sessions), deadlines.py (the beat's safety net).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chargers.access import visible_chargers
from chargers.models import Charger
from restarts.eligibility import REASONS, Evaluation, clean_ids, evaluate
from restarts.models import RestartJob, RestartRequest
from restarts.queue import queue_available
from restarts.waves import restart_jobs_release
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
    evaluation: Evaluation | None = None

    @property
    def replayed(self) -> bool:
        return self.evaluation is None


def _common_group(chargers: list[Charger]) -> Group | None:
    """The deepest group containing all `chargers`, for the audit trail."""
    groups = {c.group.path: c.group for c in chargers}
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
) -> RestartStarted:
    """Restart the chargers among `charger_ids` that `user` may restart now.

    Eligibility is decided again here. Raises RestartRefused when nothing may be
    done. With the same `idempotency_key` a second call returns the first request
    (replayed) and creates nothing.
    """
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
    asked = list(dict.fromkeys(clean_ids(charger_ids)))
    ids = [i for i in asked if i is not None]
    if not asked:
        raise RestartRefused("empty", _("No chargers were chosen."))
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

    now = timezone.now()
    restart_request = RestartRequest(
        requested_by=user,
        requested_by_name=user.get_username(),
        requested_at=now,
        ip_address=ip,
        source=source,
        mode=mode,
        asked_ids=ids,
        idempotency_key=key,
    )
    try:
        # Claim the key first: a concurrent twin waits here for us, then finds ours.
        with transaction.atomic():
            restart_request.save()
    except IntegrityError:
        if key:
            return RestartStarted(
                RestartRequest.objects.get(requested_by=user, idempotency_key=key)
            )
        raise

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

    try:
        with transaction.atomic():
            RestartJob.objects.bulk_create(
                RestartJob(request=restart_request, charger=e.charger, created_at=now)
                for e in evaluation.eligible
            )
    except IntegrityError as exc:  # a twin request won the race for a charger
        raise RestartRefused(
            "restarting", _("Nothing was restarted: %s.") % REASONS["restarting"], evaluation
        ) from exc

    chargers = [e.charger for e in evaluation.eligible]
    audit.record(
        action="restart.requested",
        actor=user,
        ip=ip,
        group=_common_group(chargers),
        obj=restart_request,
        summary=f"Restart of {len(chargers)} charger(s), mode {mode}, via {source}",
        after={
            "chargers": [c.charge_point_id for c in chargers],
            "left_out": {code: n for code, n, _r in evaluation.left_out_reasons()},
            "mode": mode,
        },
    )
    restart_jobs_release(group_ids={c.group_id for c in chargers}, now=now)
    return RestartStarted(restart_request, evaluation)
