"""Writes for restarts: the request, the waves, and every state transition of a job.

Keyword-only functions, each a whole step in one transaction. A transition is
always a conditional move (`RestartJob.objects.filter(…).move(from_, to)`): a job
somebody else already moved is not moved, and the caller leaves it alone. Nothing
here knows about HTTP or about the gateway's internals; tasks.py does the
talking to chargers and hands the answers back to `restart_job_record_answer`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import cache

import kombu.exceptions
import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chargers.models import Charger
from restarts.eligibility import REASONS, Evaluation, clean_ids, evaluate
from restarts.models import RestartJob, RestartRequest
from tenancy import access, audit
from tenancy.models import Group

log = logging.getLogger(__name__)
State = RestartJob.State
# What publishing a task raises when Redis is away.
QUEUE_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError)

# Why a job ended without a reset; shown translated on the row and in the history.
DETAILS = {
    "not_connected": gettext_lazy("not connected"),
    "no_remote_restart": gettext_lazy("cannot be restarted remotely"),
    "no_result": gettext_lazy("the charger did not answer in time"),
    "no_boot": gettext_lazy("no BootNotification in time"),
    "session_did_not_end": gettext_lazy("the charging session did not end in time"),
}


class RestartRefused(Exception):
    """Nothing may be done; `message` says why, in the user's language."""

    def __init__(self, code: str, message: str, evaluation: Evaluation | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.evaluation = evaluation


def _reset_type(charger: Charger, mode: str) -> str:
    now = mode == RestartRequest.Mode.NOW
    if charger.ocpp_version == Charger.OcppVersion.V201:
        return "Immediate" if now or not charger.session_active else "OnIdle"
    return "Hard" if now else "Soft"


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
) -> RestartRequest:
    """Restart the chargers among `charger_ids` that `user` may restart now.

    Eligibility is decided again here. Raises RestartRefused when nothing may be
    done. With the same `idempotency_key` a second call returns the first request
    and creates nothing.
    """
    if mode not in RestartRequest.Mode.values:
        raise RestartRefused("bad_mode", _("Unknown restart mode."))
    if source not in RestartRequest.Source.values:
        raise RestartRefused("bad_source", _("Unknown source."))
    key = (idempotency_key or "").replace("\x00", "").strip()[:64]
    if key:
        existing = RestartRequest.objects.filter(requested_by=user, idempotency_key=key).first()
        if existing:
            return existing
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
            return RestartRequest.objects.get(requested_by=user, idempotency_key=key)
        raise

    # Serialise requests for the same chargers, then decide with what is committed.
    list(
        access.visible_chargers(user)
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
    # The decision behind this request, for callers that report it (the API's answer).
    restart_request.evaluation = evaluation
    return restart_request


@cache
def _broker(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def queue_available() -> bool:
    """True when the task queue (Redis) answers; without it no Reset can be sent."""
    try:
        return bool(_broker(settings.CELERY_BROKER_URL).ping())
    except redis.RedisError:
        return False


def _enqueue(task_name: str, ids: list[int]) -> None:
    """Send the tasks; if the queue has gone away, stop and leave it to the safety net.

    Runs after commit, so the jobs are already written (queued and released). A failing
    publish used to raise out of on_commit: the OKAY that had just created the request
    answered 500, and each further publish waited out its retries first. The beat's
    `restart_jobs_enforce` resends released jobs that never ran (RESTART_RELEASE_STALE).
    """
    from restarts import tasks  # tasks import this module

    task = getattr(tasks, task_name)
    for n, pk in enumerate(ids):
        try:
            task.delay(pk)
        except QUEUE_ERRORS as exc:
            log.warning(
                "task queue unavailable, %d %s task(s) left to the deadline sweep: %s",
                len(ids) - n,
                task_name,
                exc,
            )
            return


def _release_later(countdown: float = 0) -> None:
    from restarts import tasks

    try:
        tasks.release_waiting_jobs.apply_async(countdown=countdown or None)
    except QUEUE_ERRORS as exc:
        log.warning("task queue unavailable, waves continue with the deadline sweep: %s", exc)


def _enqueue_sends(ids: list[int]) -> None:
    """Send tasks for released jobs: one message per chunk of RESTART_SEND_BATCH job ids.

    A chunk is claimed, reset and recorded as a whole by one task, so 1,000 chargers
    are a handful of messages, and several chunks keep the worker's pool busy. If the
    queue has gone away, the rest is left to the safety net, as in `_enqueue`.
    """
    from restarts import tasks

    size = max(settings.RESTART_SEND_BATCH, 1)
    for start in range(0, len(ids), size):
        try:
            tasks.send_resets.delay(ids[start : start + size])
        except QUEUE_ERRORS as exc:
            log.warning(
                "task queue unavailable, %d job(s) left to the deadline sweep: %s",
                len(ids) - start,
                exc,
            )
            return


RELEASE_PENDING = "restarts:release-pending"


def release_pending_clear() -> None:
    """The release task starts: later finishes must enqueue a release of their own."""
    try:
        _broker(settings.REDIS_URL).delete(RELEASE_PENDING)
    except redis.RedisError:
        log.warning("could not clear the pending-release mark", exc_info=True)


def _send_release() -> None:
    """Enqueue one wave release, unless one is already waiting to run.

    A finished job frees a slot in its group's wave. When 1,000 chargers boot within
    seconds, one pending release task serves them all: it runs RESTART_RELEASE_DELAY
    after the first finish and clears the mark before it reads the jobs, so a job
    finishing after that enqueues the next one (at most one release per delay, and
    no finish is left without a release after it). The mark expires on its own (a
    lost message cannot block releases for long), and the beat releases every
    RESTART_ENFORCE_INTERVAL regardless.
    """
    try:
        first = _broker(settings.REDIS_URL).set(
            RELEASE_PENDING, "1", nx=True, ex=settings.RESTART_RELEASE_DEBOUNCE
        )
    except redis.RedisError:
        first = True  # better a release too many than one too few
    if first:
        _release_later(countdown=settings.RESTART_RELEASE_DELAY)


def _enqueue_release() -> None:
    transaction.on_commit(_send_release)


@transaction.atomic
def restart_jobs_release(*, group_ids: Iterable[int] | None = None, now=None) -> list[int]:
    """Give waiting jobs a slot: at most RESTART_WAVE_SIZE chargers of a group reset at once.

    Returns the released job ids; their send tasks are enqueued after commit.
    """
    now = now or timezone.now()
    waiting = RestartJob.objects.filter(state=State.QUEUED, released_at__isnull=True)
    if group_ids is not None:
        waiting = waiting.filter(charger__group_id__in=list(group_ids))
    groups = sorted(set(waiting.values_list("charger__group_id", flat=True)))
    if not groups:
        return []
    # One dispatcher per group at a time (the beat, a finishing job, a new request).
    list(
        Group.objects.select_for_update()
        .filter(pk__in=groups)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    in_flight = Q(state__in=[State.SENT, State.ACCEPTED]) | Q(
        state=State.QUEUED, released_at__isnull=False
    )
    busy = dict(
        RestartJob.objects.filter(in_flight, charger__group_id__in=groups)
        .values_list("charger__group_id")
        .annotate(n=Count("pk"))
    )
    cap = max(settings.RESTART_WAVE_SIZE, 1)
    released: list[int] = []
    for group_id in groups:
        free = cap - busy.get(group_id, 0)
        if free <= 0:
            continue
        ids = list(
            waiting.filter(charger__group_id=group_id)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:free]
        )
        RestartJob.objects.filter(pk__in=ids, state=State.QUEUED, released_at__isnull=True).update(
            released_at=now
        )
        released += ids
    if released:
        transaction.on_commit(lambda: _enqueue_sends(released))
    return released


@transaction.atomic
def restart_jobs_claim(*, job_ids: Iterable[int], now=None) -> list[RestartJob]:
    """Take the queued jobs among `job_ids` for sending (queued → sent), all at once.

    Returns the jobs this call claimed (with their charger), each with its reset
    type; a job that is not queued any more (a duplicate or redelivered task, a
    boot, the beat) is not among them, so no job's Reset is ever sent twice. A job
    whose charger is no longer eligible is skipped; a 1.6 charger that is charging
    (and the request did not say "now") waits as scheduled until its session ends.
    A few statements whatever the number of jobs.
    """
    now = now or timezone.now()
    jobs = list(
        RestartJob.objects.select_related("charger", "request")
        .filter(pk__in=list(job_ids), state=State.QUEUED)
        .select_for_update(of=("self",), skip_locked=True)  # a twin task holds them: its own
        .order_by("pk")
    )
    skip: dict[str, list[int]] = {"not_connected": [], "no_remote_restart": []}
    wait: list[int] = []
    by_type: dict[str, list[RestartJob]] = {}
    for job in jobs:
        charger = job.charger
        if not charger.is_connected:
            skip["not_connected"].append(job.pk)
        elif not charger.supports_remote_restart:
            skip["no_remote_restart"].append(job.pk)
        elif (
            charger.session_active
            and charger.ocpp_version == Charger.OcppVersion.V16
            and job.request.mode != RestartRequest.Mode.NOW
        ):
            wait.append(job.pk)
        else:
            by_type.setdefault(_reset_type(charger, job.request.mode), []).append(job)
    freed = False
    for code, ids in skip.items():
        skipped = RestartJob.objects.filter(pk__in=ids)
        freed |= bool(skipped.move(State.QUEUED, State.SKIPPED, detail=code, finished_at=now))
    # Waiting for the session to end, it no longer holds a slot in the wave.
    waiting = RestartJob.objects.filter(pk__in=wait)
    freed |= bool(waiting.move(State.QUEUED, State.SCHEDULED, scheduled_at=now))
    if freed:
        _enqueue_release()
    claimed: list[RestartJob] = []
    for reset_type, group in by_type.items():
        moved = set(
            RestartJob.objects.filter(pk__in=[j.pk for j in group]).move(
                State.QUEUED, State.SENT, sent_at=now, reset_type=reset_type
            )
        )
        for job in group:
            if job.pk in moved:
                job.state, job.sent_at, job.reset_type = State.SENT, now, reset_type
                claimed.append(job)
    return claimed


def restart_job_claim(*, job_id: int, now=None) -> RestartJob | None:
    """Take one queued job for sending (queued → sent). None: nothing to send."""
    claimed = restart_jobs_claim(job_ids=[job_id], now=now)
    return claimed[0] if claimed else None


@transaction.atomic
def restart_job_unclaim(*, job_id: int) -> bool:
    """Put a claimed job back (sent → queued) when the Reset surely never left us."""
    return bool(restart_jobs_unclaim(job_ids=[job_id]))


@transaction.atomic
def restart_jobs_unclaim(*, job_ids: Iterable[int]) -> list[int]:
    """Put claimed jobs back (sent → queued) whose Resets surely never left us."""
    return RestartJob.objects.filter(pk__in=list(job_ids)).move(
        State.SENT, State.QUEUED, sent_at=None, reset_type=""
    )


def _answer(result, now) -> tuple[str, dict]:
    """The state and fields a job moves to for the gateway's answer to its Reset."""
    fields: dict = {}
    if result.outcome == "answered" and result.status == "Accepted":
        to, fields = State.ACCEPTED, {"accepted_at": now}
    elif result.outcome == "answered" and result.status == "Scheduled":
        to, fields = State.SCHEDULED, {"scheduled_at": now}
    elif result.outcome == "answered":
        status = result.status or ""
        to, fields = State.REJECTED, {"detail": "" if status == "Rejected" else status[:300]}
    elif result.outcome == "call_error":
        to, fields = State.REJECTED, {"detail": (result.detail or "CallError")[:300]}
    elif result.outcome == "not_connected":
        to, fields = State.SKIPPED, {"detail": "not_connected"}
    else:  # timeout, error: we cannot know whether it arrived, so never send again
        to, fields = State.NO_ANSWER, {"detail": (result.detail or "no_result")[:300]}
    if to not in RestartJob.UNFINISHED:
        fields["finished_at"] = now
    return to, fields


@transaction.atomic
def restart_jobs_record_answers(*, answers: Iterable[tuple[int, object]], now=None) -> dict:
    """Record what came of many Resets: (job id, CallResult) pairs. Returns {job id: state}.

    One conditional move per distinct outcome (sent → …); a job that moved on
    meanwhile (done by an early BootNotification, the beat) keeps its state and is
    not in the answer.
    """
    now = now or timezone.now()
    groups: dict[tuple, list[int]] = {}
    for job_id, result in answers:
        to, fields = _answer(result, now)
        groups.setdefault((to, tuple(sorted(fields.items()))), []).append(job_id)
    states: dict[int, str] = {}
    freed = False
    for (to, fields), ids in groups.items():
        moved = RestartJob.objects.filter(pk__in=ids).move(State.SENT, to, **dict(fields))
        states.update(dict.fromkeys(moved, to))
        freed |= bool(moved) and to != State.ACCEPTED
    if freed:
        _enqueue_release()
    return states


def restart_job_record_answer(*, job_id: int, result, now=None) -> str | None:
    """Record what came of one Reset (a gateway CallResult). Returns the new state."""
    return restart_jobs_record_answers(answers=[(job_id, result)], now=now).get(job_id)


# --- Reactions to what the gateway recorded (chargers.signals) -------------------------


def restart_jobs_confirm_boot(*, charger_id: int, at) -> int:
    """A BootNotification after the Reset was sent completes the charger's job."""
    n = RestartJob.objects.filter(
        charger_id=charger_id,
        state__in=[State.SENT, State.ACCEPTED, State.SCHEDULED],
        sent_at__lte=at,
    ).update(
        state=State.DONE,
        finished_at=at,
        confirmed_by=Case(
            When(trigger_sent_at__isnull=False, then=Value(RestartJob.Confirmation.TRIGGER)),
            default=Value(RestartJob.Confirmation.BOOT),
        ),
    )
    if n:
        _enqueue_release()
    return n


def restart_jobs_session_ended(*, charger_id: int, at) -> int:
    """The charging session ended: scheduled restarts go ahead."""
    # 1.6: the Reset was held back; it goes back into its group's wave.
    waiting = RestartJob.objects.filter(
        charger_id=charger_id, state=State.SCHEDULED, sent_at__isnull=True
    ).update(state=State.QUEUED, released_at=None)
    # 2.0.1 OnIdle: the charger resets itself now; the boot deadline starts.
    RestartJob.objects.filter(
        charger_id=charger_id, state=State.SCHEDULED, sent_at__isnull=False
    ).update(state=State.ACCEPTED, accepted_at=at)
    if waiting:
        _enqueue_release()
    return waiting


# --- Deadlines, the periodic safety net -------------------------------------------------


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=getattr(settings, name))


@transaction.atomic
def restart_jobs_enforce(*, now=None) -> dict[str, int]:
    """Move every job that waited too long; ask silent chargers for a BootNotification.

    Run by the beat every few seconds. Nothing stays "Genstarter" forever.
    """
    now = now or timezone.now()
    grace = _seconds("RESTART_BOOT_GRACE")
    jobs = RestartJob.objects
    done: dict[str, int] = {}

    # No CallResult: the send task's hard limit is shorter than this.
    done["no_answer"] = jobs.filter(
        state=State.SENT, sent_at__lt=now - _seconds("RESTART_ANSWER_DEADLINE")
    ).update(state=State.NO_ANSWER, detail="no_result", finished_at=now)

    # A boot the signal did not deliver (raced with the answer, or a missed signal).
    done["boot"] = jobs.filter(
        state=State.ACCEPTED, charger__last_boot_at__gte=F("sent_at")
    ).update(state=State.DONE, finished_at=now, confirmed_by=RestartJob.Confirmation.BOOT)

    reconnected = Q(
        state=State.ACCEPTED,
        charger__is_connected=True,
        charger__connected_at__gte=F("accepted_at"),
    )
    # Asked for a BootNotification, still none, but it is back and reporting: back.
    done["status"] = jobs.filter(
        reconnected,
        trigger_sent_at__lte=now - grace,
        charger__last_status_at__gte=F("charger__connected_at"),
    ).update(state=State.DONE, finished_at=now, confirmed_by=RestartJob.Confirmation.STATUS)

    # Reconnected after the Reset but no BootNotification within the grace: ask for one.
    to_trigger = list(
        jobs.filter(
            reconnected, trigger_sent_at__isnull=True, charger__connected_at__lte=now - grace
        ).values_list("pk", flat=True)
    )
    if to_trigger:
        jobs.filter(pk__in=to_trigger, trigger_sent_at__isnull=True).update(trigger_sent_at=now)
        transaction.on_commit(lambda: _enqueue("trigger_boot", to_trigger))
    done["trigger"] = len(to_trigger)

    done["not_back"] = jobs.filter(
        state=State.ACCEPTED, accepted_at__lt=now - _seconds("RESTART_BOOT_DEADLINE")
    ).update(state=State.NOT_BACK, detail="no_boot", finished_at=now)

    # Scheduled too long: the session never ended (or the charger never rebooted).
    scheduled_before = now - _seconds("RESTART_SCHEDULED_DEADLINE")
    too_long = Q(state=State.SCHEDULED, scheduled_at__lt=scheduled_before)
    done["not_back"] += jobs.filter(too_long, sent_at__isnull=False).update(
        state=State.NOT_BACK, detail="no_boot", finished_at=now
    )
    done["skipped"] = jobs.filter(too_long, sent_at__isnull=True).update(
        state=State.SKIPPED, detail="session_did_not_end", finished_at=now
    )
    # A 1.6 job waiting for a session end the signal did not deliver.
    done["requeued"] = jobs.filter(
        state=State.SCHEDULED, sent_at__isnull=True, charger__session_active=False
    ).update(state=State.QUEUED, released_at=None)

    # Released but never picked up (a lost message): send again; the claim makes it safe.
    stale = list(
        jobs.filter(
            state=State.QUEUED, released_at__lt=now - _seconds("RESTART_RELEASE_STALE")
        ).values_list("pk", flat=True)
    )
    if stale:
        jobs.filter(pk__in=stale, state=State.QUEUED).update(released_at=now)
        transaction.on_commit(lambda: _enqueue_sends(stale))
    done["resent"] = len(stale)

    done["released"] = len(restart_jobs_release(now=now))
    moved = {k: v for k, v in done.items() if v}
    if moved:
        log.info("restart deadlines: %s", moved)
    return done
