"""A released job's way on: claimed for sending, answered, and moved by what chargers do.

Each function is one step over many jobs at once, every state change a conditional
`RestartJob.objects.move`: a job somebody else already moved on is left alone.
tasks.py does the talking to chargers and hands the answers back here; the
gateway's signals (receivers.py) report boots and ended sessions. A job that
frees its slot in a wave asks for the next release (waves.release_on_commit).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connections, models, transaction
from django.db.models import Case, Expression, F, Q, Value, When
from django.utils import timezone

from chargers.models import Charger
from ocpp_gateway import channel
from restarts.cancel import restart_jobs_drop_lost_rights
from restarts.models import RestartJob, RestartRequest
from restarts.waiting import (
    NOT_CONNECTED,
    NOT_REGISTERED,
    RETRY_MARK,
    STATE_ERRORS,
    restart_jobs_requeue_ready,
)
from restarts.waves import release_on_commit

State = RestartJob.State


def _reset_type(charger: Charger, mode: str, source: str = "") -> str:
    now = mode == RestartRequest.Mode.NOW
    if charger.ocpp_version == Charger.OcppVersion.V201:
        # Self-healing's gentle step is OnIdle whatever the charger said last.
        gentle = charger.session_active or source == RestartRequest.Source.AUTO
        return "Immediate" if now or not gentle else "OnIdle"
    return "Hard" if now else "Soft"


@transaction.atomic
def restart_jobs_claim(*, job_ids: Iterable[int], batch: str = "", now=None) -> list[RestartJob]:
    """Take the queued jobs among `job_ids` for sending (queued → sent), all at once.

    Returns the jobs this call claimed (with their charger), each with its reset
    type; a job that is not queued any more (a duplicate or redelivered task, a
    boot, the beat) is not among them, so no job's Reset is ever sent twice. A job
    whose charger is no longer eligible is skipped; a 1.6 charger that is charging
    (and the request did not say "now") waits as scheduled until its session ends.
    A job whose requester lost the right to restart the charger meanwhile is
    cancelled (cancel.restart_jobs_drop_lost_rights). A few statements per requester.
    `batch` names the command batch its Resets will be pushed in (the deadline sweep
    asks Redis whether it ever was, for a claim whose worker died).
    """
    now = now or timezone.now()
    jobs = list(
        RestartJob.objects.select_related("charger", "request")
        .filter(pk__in=list(job_ids), state=State.QUEUED)
        .select_for_update(of=("self",), skip_locked=True)  # a twin task holds them: its own
        .order_by("pk")
    )
    # The requester's right is checked again as the Reset is about to go.
    jobs = restart_jobs_drop_lost_rights(jobs, now=now)
    skip: dict[str, list[int]] = {"no_remote_restart": []}
    wait: list[int] = []
    away: list[int] = []
    by_type: dict[str, list[RestartJob]] = {}
    for job in jobs:
        charger = job.charger
        if not charger.is_connected:
            away.append(job.pk)
        elif not charger.supports_remote_restart:
            skip["no_remote_restart"].append(job.pk)
        elif (
            charger.session_active
            and charger.ocpp_version == Charger.OcppVersion.V16
            and job.request.mode != RestartRequest.Mode.NOW
        ):
            wait.append(job.pk)
        else:
            by_type.setdefault(
                _reset_type(charger, job.request.mode, job.request.source), []
            ).append(job)
    freed = False
    for code, ids in skip.items():
        skipped = RestartJob.objects.filter(pk__in=ids)
        freed |= bool(skipped.move(State.QUEUED, State.SKIPPED, detail=code, finished_at=now))
    # Waiting for the session to end, it no longer holds a slot in the wave.
    waiting = RestartJob.objects.filter(pk__in=wait)
    freed |= bool(waiting.move(State.QUEUED, State.SCHEDULED, scheduled_at=now, sent_at=None))
    # Briefly gone (a reconnect storm): wait for it (waiting.py), up to
    # RESTART_RECONNECT_WAIT, without holding a slot in the wave.
    gone = RestartJob.objects.filter(pk__in=away)
    freed |= bool(gone.move(State.QUEUED, State.WAITING, detail=NOT_CONNECTED, claimed_at=now))
    if freed:
        release_on_commit()
    claimed: list[RestartJob] = []
    for reset_type, group in by_type.items():
        moved = set(
            RestartJob.objects.filter(pk__in=[j.pk for j in group]).move(
                State.QUEUED,
                State.SENT,
                claimed_at=now,
                call_batch=batch,
                reset_type=reset_type,
                sent_at=None,  # a new attempt: the gateway stamps it again
                answered_at=None,
                answer_lost=False,  # nothing is known of this attempt's Reset yet
                trigger_sent_at=None,
                trigger_written_at=None,
                # Why it waited is over; the one-retry mark stays (_answer reads it).
                detail=Case(
                    When(detail__startswith=RETRY_MARK, then=F("detail")), default=Value("")
                ),
            )
        )
        for job in group:
            if job.pk in moved:
                job.state, job.claimed_at, job.reset_type = State.SENT, now, reset_type
                claimed.append(job)
    return claimed


@transaction.atomic
def restart_jobs_unclaim(*, job_ids: Iterable[int]) -> list[int]:
    """Put claimed jobs back (sent → queued) whose Resets surely never left us."""
    return RestartJob.objects.filter(pk__in=list(job_ids)).move(
        State.SENT, State.QUEUED, claimed_at=None, call_batch="", sent_at=None, reset_type=""
    )


def _stamp(value: float | None) -> datetime | None:
    """A gateway's Unix time as an aware datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _answer(result, now, retried: bool = False) -> tuple[str, dict]:
    """The state and fields a job moves to for the gateway's answer to its Reset.

    Times are the gateway's stamps: `sent_at` when the Reset frame was written (absent
    when the gateway could not say), `answered_at` when the answer arrived. `retried`:
    the job was refused once already because of the charger's state.
    """
    fields: dict = {}
    answered = _stamp(result.answered_at)
    if result.outcome == channel.ANSWERED and result.status == "Accepted":
        to, fields = State.ACCEPTED, {"accepted_at": answered or now, "detail": ""}
    elif result.outcome == channel.ANSWERED and result.status == "Scheduled":
        to, fields = State.SCHEDULED, {"scheduled_at": answered or now}
    elif result.outcome == channel.ANSWERED:
        status = result.status or ""
        to, fields = State.REJECTED, {"detail": "" if status == "Rejected" else status[:300]}
    elif result.outcome == channel.CALL_ERROR:
        detail = result.detail or "CallError"
        if detail.startswith(STATE_ERRORS) and not retried:
            # Refused because of its state: once more, after its next accepted boot.
            to, fields = State.WAITING, {"detail": (RETRY_MARK + detail)[:300]}
        else:
            to, fields = State.REJECTED, {"detail": detail[:300]}
    elif result.outcome == channel.NOT_CONNECTED:
        # Its socket went between the claim and the send: wait for it to come back.
        to, fields = State.WAITING, {"detail": NOT_CONNECTED, "claimed_at": now}
    elif result.outcome == channel.NOT_REGISTERED:
        # Connected, not registered yet: nothing was sent; the Reset goes after its boot.
        to, fields = State.WAITING, {"detail": NOT_REGISTERED, "claimed_at": now}
    elif result.not_written:
        # The gateway says it never wrote the Reset (refused it as invalid, or it never got
        # its turn behind an earlier unanswered call): nothing reached the charger, so no
        # later boot may confirm it. Ended, with the gateway's reason.
        to, fields = State.SKIPPED, {"detail": (result.detail or "not sent")[:300]}
    else:
        # Timeout, the socket closed under the call, an error: we cannot know whether it
        # arrived, so never send again, and no verdict: a boot within the boot deadline
        # still shows the restart (hard resets often cut power before the answer).
        detail = (result.detail or "no_result")[:300]
        to, fields = State.SENT, {"detail": detail, "answer_lost": True}
    if to not in RestartJob.State.unfinished():
        fields["finished_at"] = answered or now
    if result.sent_at is not None:
        fields["sent_at"] = _stamp(result.sent_at)
    if answered is not None:
        fields["answered_at"] = answered
    return to, fields


def _per_job(values: dict[int, object]):
    """One value per job id, as a value (all the same) or a CASE over the ids."""
    distinct = set(values.values())
    if len(distinct) == 1:
        return distinct.pop()
    return Case(
        *(When(pk=pk, then=Value(value)) for pk, value in values.items()),
        output_field=models.DateTimeField(),
    )


@transaction.atomic
def restart_jobs_record_answers(*, answers: Iterable[tuple[int, object]], now=None) -> dict:
    """Record what came of Resets: (job id, CallResult) pairs. Returns {job id: state}.

    Called with each batch of answers as it arrives (tasks.send_resets), so a job's
    answer is written when the charger gave it, not when the slowest of its chunk
    has answered. One conditional move per distinct outcome (sent → …), the gateway's
    per-job stamps in it; a job that moved on meanwhile (done by a BootNotification,
    the beat) keeps its state and is not in the answer.
    """
    now = now or timezone.now()
    answers = list(answers)
    refused = [pk for pk, r in answers if r.outcome == channel.CALL_ERROR]
    retried = set(
        RestartJob.objects.filter(pk__in=refused, detail__startswith=RETRY_MARK).values_list(
            "pk", flat=True
        )
    )
    groups: dict[tuple, dict[int, dict]] = {}
    for job_id, result in answers:
        to, fields = _answer(result, now, retried=job_id in retried)
        times = {k: v for k, v in fields.items() if isinstance(v, datetime)}
        rest = tuple(sorted((k, v) for k, v in fields.items() if k not in times))
        groups.setdefault((to, rest, tuple(sorted(times))), {})[job_id] = times
    states: dict[int, str] = {}
    freed = False
    for (to, rest, time_names), jobs in groups.items():
        stamps = {name: _per_job({pk: t[name] for pk, t in jobs.items()}) for name in time_names}
        moved = RestartJob.objects.filter(pk__in=list(jobs)).move(
            State.SENT, to, **dict(rest), **stamps
        )
        states.update(dict.fromkeys(moved, to))
        freed |= bool(moved) and to not in (State.ACCEPTED, State.SENT)
    waiting = [pk for pk, to in states.items() if to == State.WAITING]
    # Its boot may have come before this answer was written: look now.
    for pk in restart_jobs_requeue_ready(RestartJob.objects.filter(pk__in=waiting)):
        states[pk] = State.QUEUED
    waiting = [pk for pk, to in states.items() if to in (State.ACCEPTED, State.SENT)]
    # The charger may have rebooted and booted again before its answer was written.
    booted = restart_jobs_booted_since_sent(RestartJob.objects.filter(pk__in=waiting))
    for pk in booted.move(
        [State.ACCEPTED, State.SENT],
        State.DONE,
        finished_at=now,
        confirmed_by=restart_jobs_confirmation(),
    ):
        states[pk], freed = State.DONE, True
    if freed:
        release_on_commit()
    return states


def written_before(opened) -> Q:
    """The Reset was written before `opened` (an expression: a socket's opening time).

    Its time is the gateway's `sent_at`. A lost answer may not say it (no reply from the
    gateway at all): then the claim, before which no Reset can have left, stands in;
    only for an answer recorded as lost (`answer_lost`), never for a job whose answer is
    still to be recorded, nor one the gateway said it never wrote.
    """
    lost = Q(sent_at__isnull=True, state=State.SENT, answer_lost=True, claimed_at__lt=opened)
    return Q(sent_at__lt=opened) | lost


def restart_jobs_booted_since_sent(jobs):
    """The jobs whose charger booted on its current connection, opened after the Reset was
    written: the evidence as the charger's row holds it (for answers recorded after the
    boot, and for the beat when a signal was missed)."""
    return jobs.filter(
        written_before(F("charger__connected_at")),
        charger__last_boot_at__gte=F("charger__connected_at"),
    )


def restart_jobs_back_since_sent(jobs):
    """The jobs whose charger is connected on a socket opened after the Reset was written."""
    return jobs.filter(written_before(F("charger__connected_at")), charger__is_connected=True)


# --- Reactions to what the gateway recorded (chargers.signals, see receivers.py) -------


# The states a boot can confirm (move to done).
BOOT_CONFIRMS = (State.SENT, State.ACCEPTED, State.SCHEDULED)


def restart_jobs_confirm_boot(*, charger_id: int, at, connected_at=None, reason: str = "") -> int:
    """A BootNotification on a socket opened after the Reset was written: the charger
    restarted, its job is done (confirmed by that boot, or by the one we asked for).

    A boot on the socket that took the Reset (it refused, or answered and did not
    restart) is not a restart; nor is one before the answer said when the Reset was
    written (`sent_at` unknown): recording that answer looks at the boots again.
    `connected_at` unknown (a gateway of an older version): the boot's own time.
    """
    boot = {"charger_id": charger_id, "at": at, "connected_at": connected_at, "reason": reason}
    return restart_jobs_confirm_boots(boots=[boot])


# Boots confirmed per statement (their arrays, or CASEs on other databases).
BOOTS_PER_STATEMENT = 500


def restart_jobs_confirm_boots(*, boots: Iterable[dict], arrays: bool | None = None) -> int:
    """`restart_jobs_confirm_boot` for a write's boots ({charger_id, at, connected_at,
    reason}) in a few statements: a bulk restart's thousand boots arrive in one second,
    and one UPDATE each kept the gateway's writer busy for seconds. A charger's boots in
    order: its first confirms its job, a later one finds nothing left to confirm."""
    layers: list[dict[int, dict]] = []
    for boot in sorted(boots, key=lambda b: b["at"]):
        layer = next((lay for lay in layers if boot["charger_id"] not in lay), None)
        if layer is None:
            layer = {}
            layers.append(layer)
        layer[boot["charger_id"]] = boot
    moved = 0
    for layer in layers:
        items = list(layer.items())
        for start in range(0, len(items), BOOTS_PER_STATEMENT):
            moved += _confirm(dict(items[start : start + BOOTS_PER_STATEMENT]), arrays)
    if moved:
        release_on_commit()
    return moved


def _confirm(boots: dict[int, dict], arrays: bool | None) -> int:
    if arrays is None:  # PostgreSQL's arrays; CASEs elsewhere (the SQLite demo)
        arrays = connections[RestartJob.objects.db].vendor == "postgresql"

    def per_charger(value, field: models.Field, sql_type: str):
        values = {pk: value(b) for pk, b in boots.items()}
        if arrays:
            return _ForCharger(values, sql_type, field)
        return Case(
            *(When(charger_id=pk, then=Value(v)) for pk, v in values.items()), output_field=field
        )

    opened = per_charger(
        lambda b: b["connected_at"] or b["at"], models.DateTimeField(), "timestamptz"
    )
    jobs = RestartJob.objects.filter(Q(charger_id__in=list(boots)) & written_before(opened))
    return len(
        jobs.move(
            BOOT_CONFIRMS,
            State.DONE,
            finished_at=per_charger(lambda b: b["at"], models.DateTimeField(), "timestamptz"),
            boot_reason=per_charger(lambda b: (b["reason"] or "")[:32], models.CharField(), "text"),
            confirmed_by=restart_jobs_confirmation(),
        )
    )


class _ForCharger(Expression):
    """Each row's value for its charger, from two parallel arrays (PostgreSQL): two
    parameters however many chargers. A CASE has a branch per charger, and Django built
    and compiled them one by one: 0.8 ms a boot in the gateway's writer thread."""

    def __init__(self, values: dict[int, object], sql_type: str, output_field):
        super().__init__(output_field=output_field)
        self.chargers, self.values, self.sql_type = list(values), list(values.values()), sql_type
        self.key = F("charger_id")

    def get_source_expressions(self):
        return [self.key]

    def set_source_expressions(self, exprs):
        (self.key,) = exprs

    def as_sql(self, compiler, connection):
        key_sql, key_params = compiler.compile(self.key)
        sql = f"(%s::{self.sql_type}[])[array_position(%s::bigint[], {key_sql})]"
        return sql, [self.values, self.chargers, *key_params]


def restart_jobs_confirmation():
    """Confirmed by a boot we asked for (TriggerMessage) or one the charger sent itself."""
    return Case(
        When(trigger_sent_at__isnull=False, then=Value(RestartJob.Confirmation.TRIGGER)),
        default=Value(RestartJob.Confirmation.BOOT),
    )


def restart_jobs_session_ended(*, charger_id: int, at) -> int:
    """The charging session ended: scheduled restarts go ahead."""
    scheduled = RestartJob.objects.filter(charger_id=charger_id)
    # 1.6: the Reset was held back; it goes back into its group's wave.
    waiting = scheduled.filter(sent_at__isnull=True).move(
        State.SCHEDULED, State.QUEUED, released_at=None
    )
    # 2.0.1 OnIdle: the charger resets itself now; the boot deadline starts.
    scheduled.filter(sent_at__isnull=False).move(State.SCHEDULED, State.ACCEPTED, accepted_at=at)
    if waiting:
        release_on_commit()
    return len(waiting)
