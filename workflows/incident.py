"""The incident workflow: one run chain per open incident, owner of all its state.

Triggers arrive as signals (through signal-with-start, see docs/architecture.md); people's
actions (acknowledge, resolve, PATCH, notes) as updates so the caller learns what happened.
Every change also becomes a timeline entry. The read side is written by the projection
activity; the main loop batches everything that changed since the last write.
"""

import json
from collections import deque
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.names import PROJECT_INCIDENT
    from workflows import search_attributes as sa
    from workflows.ids import incident_id
    from workflows.messages import (
        OPENED_MANUALLY,
        ActionIn,
        ActionResult,
        AlertIn,
        AlertRecord,
        ChangeIn,
        EscalationStatus,
        IncidentSnapshot,
        IncidentStart,
        ManualOpenIn,
        NoteIn,
        Projection,
        Status,
        TimelineEntry,
        Urgency,
    )
    from workflows.notifications import EventType
    from workflows.notifier import (
        ONE_LOOKUP_PER_STEP,
        SHARED_CHANNEL_LOOKUP,
        Notifier,
        NotifierState,
    )
    from workflows.severity import higher_urgency, urgency_for
    from workflows.transitions import InvalidTransition, check_transition

# Rows written per projection activity: bounds the activity's payload size in a storm.
MAX_ALERTS_PER_PROJECTION = 200
MAX_TIMELINE_PER_PROJECTION = 500
# Idempotency keys remembered (and carried over continue-as-new) to drop client retries.
REMEMBERED_IDEMPOTENCY_KEYS = 1000
# Patch ids (see docs/architecture.md, "Determinism").
LOCAL_PROJECTION = "projection-as-local-activity"
NOTIFICATIONS = "escalation-and-notifications"
# Asked on its own by runs started before CURRENT: they may be mid-close.
WRITE_AFTER_CLOSE = "write-what-came-during-close"
# Runs started on this code have every patch (the notifier's too): one marker instead of
# one per patch, because the SDK also upserts a search attribute for each marker it
# records, a visibility write per patch per new incident on the server.
CURRENT = "fast-path-2026-12"
# The marker runs recorded before CURRENT, and the patches it stood for.
NOVEMBER = "fast-path-2026-11"
COVERED_BY_NOVEMBER = frozenset({LOCAL_PROJECTION, NOTIFICATIONS, SHARED_CHANNEL_LOOKUP})
# Behaviour only runs started on CURRENT's code have, from their first task to their end.
ONLY_CURRENT = frozenset({ONE_LOOKUP_PER_STEP})
PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
TIMER = "timer"
EVENT_OF_STATUS = {
    Status.OPEN: EventType.REOPENED,
    Status.ACKNOWLEDGED: EventType.ACKNOWLEDGED,
    Status.RESOLVED: EventType.RESOLVED,
    Status.SNOOZED: EventType.SNOOZED,
    Status.SUPPRESSED: EventType.UPDATED,
}


def describe(custom_details: dict | None) -> str | None:
    """The incident description: the alert's custom_details as formatted JSON (seed 001)."""
    if not custom_details:
        return None
    return json.dumps(custom_details, indent=2, sort_keys=True, default=str)


@workflow.defn(name="Incident")
class IncidentWorkflow:
    @workflow.init
    def __init__(self, start: IncidentStart) -> None:
        self._service_id = start.service_id
        self._dedup_key = start.dedup_key
        self._incident = start.incident
        self._next_seq = start.next_alert_seq
        self._next_timeline_seq = start.next_timeline_seq
        self._projected_version = start.projected_version
        self._pending: list[AlertRecord] = []
        self._timeline: list[TimelineEntry] = []
        self._seen_keys: deque[str] = deque(
            start.recent_idempotency_keys, maxlen=REMEMBERED_IDEMPOTENCY_KEYS
        )
        self._notifier_state = NotifierState.model_validate(start.notifier or {})
        self._notifier_checked = False
        self._notifier_: Notifier | None = None
        self._era: str | None = None  # CURRENT, NOVEMBER or "" (before both); see patched
        self._closed = False

    @workflow.run
    async def run(self, start: IncidentStart) -> IncidentSnapshot | None:
        self._notifier()
        while True:
            snooze_left = self._snooze_left()
            if snooze_left is not None and snooze_left <= timedelta(0):
                self._expire_snooze()
                continue
            try:
                await workflow.wait_condition(
                    lambda: (
                        (self._dirty() and not self._write_held())
                        or self._resolved()
                        or self._may_roll_over()
                    ),
                    timeout=snooze_left,
                )
            except TimeoutError:
                continue  # the snooze ran out; the next pass expires it
            if self._dirty():
                await self._project()
                continue
            # Finish (or roll over) only when no update is mid-flight and nothing is unwritten.
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._dirty():
                continue
            if self._resolved():
                notifier = self._notifier()
                if notifier is not None and not self._closed:
                    self._closed = True
                    await notifier.close()
                    # A trigger that came while the deliveries were handed off (the child's
                    # start is a round trip) was answered "deduplicated": write it first.
                    if self._dirty() and self.patched(WRITE_AFTER_CLOSE):
                        continue
                return self._incident
            if not self._may_roll_over():
                continue
            workflow.continue_as_new(self._carry_over())

    # --- events from monitoring -------------------------------------------------------------

    @workflow.signal(name="triggers")
    def triggers(self, alerts: list[AlertIn]) -> None:
        """Alerts that reached one API process together (web/trigger_batching.py), in
        arrival order."""
        for alert in alerts:
            self.trigger(alert)

    @workflow.signal(name="trigger")
    def trigger(self, alert: AlertIn) -> None:
        """One alert (the signal API processes sent before batching)."""
        if not self._first_sighting(alert.idempotency_key):
            return
        seq = self._next_seq
        self._next_seq += 1
        self._pending.append(
            AlertRecord(
                seq=seq,
                received_at=alert.received_at,
                summary=alert.summary,
                source=alert.source,
                severity=alert.severity,
                payload=alert.payload,
                links=alert.links,
                images=alert.images,
                client=alert.client,
                client_url=alert.client_url,
            )
        )
        urgency = urgency_for(alert.severity)
        if self._incident is None:
            suppressed = alert.suppressed_by is not None
            self._incident = self._new_incident(
                title=alert.summary,
                description=describe(alert.custom_details),
                urgency=urgency,
                at=alert.received_at,
                status=Status.SUPPRESSED if suppressed else Status.OPEN,
            )
            self._incident.alert_count = 1
            self._incident.suppressed_by = alert.suppressed_by
            if suppressed:
                self._incident.escalation_status = EscalationStatus.COMPLETED
            self._note_alert(alert, seq)
            message = f"Suppressed by rule {alert.suppressed_by}" if suppressed else "Triggered"
            entry = self._record(
                alert.actor, "status", message, {"to": self._incident.status.value}
            )
            notifier = self._notifier()
            if notifier is not None:
                notifier.context(alert.source, alert.custom_details)
                if not suppressed:  # suppressed incidents never escalate nor announce
                    notifier.event(entry.seq, EventType.TRIGGERED, alert.actor, message)
                    notifier.begin_escalation()
            return
        # A repeated alert deduplicates into the incident whatever its status; the latest
        # alert's summary and details describe it best.
        inc = self._incident
        inc.alert_count += 1
        inc.last_alert_at = max(inc.last_alert_at, alert.received_at)
        inc.title = alert.summary
        inc.description = describe(alert.custom_details) or inc.description
        self._set_urgency(higher_urgency(inc.urgency, urgency))
        inc.version += 1
        self._note_alert(alert, seq)
        notifier = self._notifier()
        if notifier is not None:
            notifier.context(alert.source, alert.custom_details)

    @workflow.signal(name="open")
    def open_manual(self, request: ManualOpenIn) -> None:
        if self._incident is not None:
            return
        self._incident = self._new_incident(
            title=request.title,
            description=request.description,
            urgency=request.urgency,
            at=request.opened_at,
            status=Status.OPEN,
        )
        self._incident.priority = request.priority
        entry = self._record(request.actor, "status", OPENED_MANUALLY, {"to": Status.OPEN.value})
        notifier = self._notifier()
        if notifier is not None:
            notifier.event(entry.seq, EventType.TRIGGERED, request.actor, OPENED_MANUALLY)
            notifier.begin_escalation()

    # --- actions of people and integrations -------------------------------------------------

    @workflow.update(name="acknowledge")
    async def acknowledge(self, request: ActionIn) -> ActionResult:
        inc = self._incident
        if inc is None or inc.status == Status.RESOLVED:
            return ActionResult(action="ignored", incident=inc)
        if inc.status != Status.ACKNOWLEDGED:
            self._move_to(Status.ACKNOWLEDGED, request.actor)
        return await self._answer("acknowledged")

    @workflow.update(name="resolve")
    async def resolve(self, request: ActionIn) -> ActionResult:
        inc = self._incident
        if inc is None or inc.status == Status.RESOLVED:
            return ActionResult(action="ignored", incident=inc)
        self._move_to(Status.RESOLVED, request.actor)
        return await self._answer("resolved")

    @workflow.update(name="change")
    async def change(self, request: ChangeIn) -> ActionResult:
        inc = self._incident
        assert inc is not None  # the validator guarantees it
        if request.status is not None:
            self._move_to(request.status, request.actor, request.snoozed_until)
        if request.urgency is not None and request.urgency != inc.urgency:
            self._change_field("urgency", inc.urgency.value, request.urgency.value, request.actor)
            self._set_urgency(request.urgency)
        if request.priority_set and request.priority != inc.priority:
            self._change_field("priority", inc.priority, request.priority, request.actor)
            inc.priority = request.priority
        if request.assignee_set and request.assignee_id != inc.assignee_id:
            self._change_field("assignee", inc.assignee_id, request.assignee_id, request.actor)
            inc.assignee_id = request.assignee_id
        inc.version += 1
        return await self._answer("updated")

    def _announce_field_change(self, entry: TimelineEntry) -> None:
        notifier = self._notifier()
        if notifier is not None and self._incident is not None:
            notifier.event(entry.seq, EventType.UPDATED, entry.actor, entry.message)

    @change.validator
    def validate_change(self, request: ChangeIn) -> None:
        if self._incident is None:
            raise ApplicationError("incident not found", type="NOT_FOUND")
        if request.status is not None:
            try:
                check_transition(self._incident.status, request.status)
            except InvalidTransition as err:
                raise ApplicationError(str(err), type="INVALID_TRANSITION") from err
        elif self._incident.status == Status.RESOLVED:
            raise ApplicationError("incident is resolved", type="INVALID_TRANSITION")

    @workflow.update(name="note")
    async def note(self, request: NoteIn) -> TimelineEntry:
        assert self._incident is not None  # the validator guarantees it
        entry = self._record(
            request.actor,
            request.kind,
            request.body,
            {"notifySubscribers": request.notify_subscribers} if request.kind == "update" else {},
        )
        notifier = self._notifier()
        if notifier is not None:
            notifier.event(entry.seq, EventType.ANNOTATED, request.actor, request.body)
        self._incident.version += 1
        await self._answer("updated")
        return entry

    @note.validator
    def validate_note(self, request: NoteIn) -> None:
        if self._incident is None:
            raise ApplicationError("incident not found", type="NOT_FOUND")

    @workflow.query(name="incident")
    def current(self) -> IncidentSnapshot | None:
        return self._incident

    # --- what the notifier needs (workflows/notifier.py Host) -------------------------------

    @property
    def incident(self) -> IncidentSnapshot | None:
        return self._incident

    def record(self, actor: str, kind: str, message: str, data: dict) -> TimelineEntry:
        return self._record(actor, kind, message, data)

    def assign(self, user_id: str, actor: str) -> None:
        """The first person paged becomes the assignee of an incident that has none."""
        inc = self._incident
        if inc is None or inc.assignee_id is not None or inc.status == Status.RESOLVED:
            return
        self._change_field("assignee", None, user_id, actor)
        inc.assignee_id = user_id
        inc.version += 1

    def escalation_finished(self) -> None:
        inc = self._incident
        if inc is not None and inc.escalation_status != EscalationStatus.COMPLETED:
            inc.escalation_status = EscalationStatus.COMPLETED
            inc.version += 1

    def patched(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``, true at once for runs that started on this code.

        The first call decides for the run: in a new run it records the ``CURRENT`` marker;
        replaying a run recorded before it finds the ``NOVEMBER`` marker (true for the patches
        that marker stood for) or none (each patch is asked as before). ``ONLY_CURRENT``
        behaviour is never switched on midway through an older run.
        """
        if self._era is None:
            if workflow.patched(CURRENT):
                self._era = CURRENT
            else:
                self._era = NOVEMBER if workflow.patched(NOVEMBER) else ""
        if self._era == CURRENT:
            return True
        if patch_id in ONLY_CURRENT:
            return False
        if self._era == NOVEMBER and patch_id in COVERED_BY_NOVEMBER:
            return True
        return workflow.patched(patch_id)

    def _notifier(self) -> Notifier | None:
        """The notification side, for runs that started on code that has it (the patch
        keeps histories recorded before it replayable)."""
        if not self._notifier_checked:
            self._notifier_checked = True
            if self.patched(NOTIFICATIONS):
                self._notifier_ = Notifier(self, self._notifier_state)
                self._notifier_.start()
        return self._notifier_

    # --- state changes ----------------------------------------------------------------------

    def _new_incident(
        self, *, title: str, description: str | None, urgency: Urgency, at: datetime, status: Status
    ) -> IncidentSnapshot:
        if status != Status.OPEN:
            workflow.upsert_search_attributes([sa.STATUS.value_set(status.value)])
        return IncidentSnapshot(
            id=incident_id(workflow.info().first_execution_run_id),
            workflow_id=workflow.info().workflow_id,
            service_id=self._service_id,
            dedup_key=self._dedup_key,
            title=title,
            description=description,
            status=status,
            urgency=urgency,
            escalation_status=EscalationStatus.ACTIVE,
            alert_count=0,
            created_at=at,
            last_alert_at=at,
            version=1,
        )

    def _move_to(self, target: Status, actor: str, snoozed_until: datetime | None = None) -> None:
        inc = self._incident
        assert inc is not None
        current = inc.status
        if target == current and target != Status.SNOOZED:
            return
        now = workflow.now()
        data: dict = {"from": current.value, "to": target.value}
        if target == Status.SNOOZED:
            if current != Status.SNOOZED:
                back = current if current in (Status.OPEN, Status.ACKNOWLEDGED) else Status.OPEN
                inc.status_before_snooze = back
            inc.snoozed_until = snoozed_until
            data["until"] = snoozed_until.isoformat() if snoozed_until else None
        else:
            inc.snoozed_until = None
            inc.status_before_snooze = None
        if target == Status.ACKNOWLEDGED:
            inc.acknowledged_at = now
            inc.escalation_status = EscalationStatus.COMPLETED
        elif target == Status.OPEN:
            # Re-opened: escalation starts again from its first step.
            inc.escalation_status = EscalationStatus.ACTIVE
        elif target == Status.RESOLVED:
            inc.resolved_at = now
            inc.escalation_status = EscalationStatus.COMPLETED
        self._set_status(target)
        entry = self._record(actor, "status", f"{current.value} → {target.value}", data)
        notifier = self._notifier()
        if notifier is None:
            return
        if target in (Status.ACKNOWLEDGED, Status.RESOLVED):
            notifier.stop_escalation()
        elif target == Status.SNOOZED:
            notifier.pause_escalation()
        elif target == Status.OPEN:
            notifier.resume_or_restart_escalation()
        notifier.event(entry.seq, EVENT_OF_STATUS[target], actor, entry.message)

    def _expire_snooze(self) -> None:
        inc = self._incident
        assert inc is not None
        self._move_to(inc.status_before_snooze or Status.OPEN, TIMER)

    def _snooze_left(self) -> timedelta | None:
        inc = self._incident
        if inc is None or inc.status != Status.SNOOZED or inc.snoozed_until is None:
            return None
        return inc.snoozed_until - workflow.now()

    def _change_field(self, name: str, before: object, after: object, actor: str) -> None:
        entry = self._record(
            actor, name, f"{name}: {before} → {after}", {"from": before, "to": after}
        )
        self._announce_field_change(entry)

    def _note_alert(self, alert: AlertIn, seq: int) -> None:
        assert self._incident is not None
        self._record(
            alert.actor,
            "alert",
            alert.summary,
            {"seq": seq, "alertCount": self._incident.alert_count, "severity": alert.severity},
        )

    def _record(self, actor: str, kind: str, message: str, data: dict) -> TimelineEntry:
        entry = TimelineEntry(
            seq=self._next_timeline_seq,
            at=workflow.now(),
            kind=kind,
            actor=actor,
            message=message,
            data=data,
        )
        self._next_timeline_seq += 1
        self._timeline.append(entry)
        return entry

    async def _answer(self, action: str) -> ActionResult:
        """Reply once the change is on the read side, so a GET right after sees it."""
        assert self._incident is not None
        version = self._incident.version
        await workflow.wait_condition(lambda: self._projected_version >= version)
        return ActionResult.model_validate({"action": action, "incident": self._incident})

    def _set_status(self, status: Status) -> None:
        assert self._incident is not None
        self._incident.status = status
        self._incident.version += 1
        workflow.upsert_search_attributes([sa.STATUS.value_set(status.value)])

    def _set_urgency(self, urgency: Urgency) -> None:
        assert self._incident is not None
        if urgency != self._incident.urgency:
            self._incident.urgency = urgency
            workflow.upsert_search_attributes([sa.URGENCY.value_set(urgency.value)])

    def _first_sighting(self, idempotency_key: str | None) -> bool:
        if idempotency_key is None:
            return True
        if idempotency_key in self._seen_keys:
            return False
        self._seen_keys.append(idempotency_key)
        return True

    def _dirty(self) -> bool:
        return (
            bool(self._pending)
            or bool(self._timeline)
            or (self._incident is not None and self._incident.version > self._projected_version)
        )

    def _write_held(self) -> bool:
        """A step's lookups are due or under way: its timeline entries go in the same write."""
        return self._notifier_ is not None and self._notifier_.holds_writes()

    def _resolved(self) -> bool:
        return self._incident is not None and self._incident.status == Status.RESOLVED

    def _may_roll_over(self) -> bool:
        """History is long and nothing is under way that a new run could not pick up."""
        notifier = self._notifier_
        return workflow.info().is_continue_as_new_suggested() and (
            notifier is None or notifier.idle()
        )

    async def _project(self) -> None:
        assert self._incident is not None
        alerts = self._pending[:MAX_ALERTS_PER_PROJECTION]
        del self._pending[: len(alerts)]
        timeline_from = self._timeline[0].seq if self._timeline else self._next_timeline_seq
        timeline = self._timeline[:MAX_TIMELINE_PER_PROJECTION]
        del self._timeline[: len(timeline)]
        # decided_at orders the read side's writes (activities/projection.py): a retried
        # workflow task starts later than the one a killed worker never completed.
        snapshot = self._incident.model_copy(update={"decided_at": workflow.now()})
        projection = Projection(
            incident=snapshot, alerts=alerts, timeline=timeline, timeline_from=timeline_from
        )
        if self.patched(LOCAL_PROJECTION):
            # A local activity runs inside the workflow task: no activity task round trip
            # through the server, so the read side is written sooner and at half the cost.
            await workflow.execute_local_activity(
                PROJECT_INCIDENT,
                projection,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=PROJECTION_RETRY,
            )
        else:
            await workflow.execute_activity(
                PROJECT_INCIDENT,
                projection,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PROJECTION_RETRY,
            )
        self._projected_version = max(self._projected_version, snapshot.version)

    def _carry_over(self) -> IncidentStart:
        return IncidentStart(
            service_id=self._service_id,
            dedup_key=self._dedup_key,
            incident=self._incident,
            next_alert_seq=self._next_seq,
            next_timeline_seq=self._next_timeline_seq,
            projected_version=self._projected_version,
            recent_idempotency_keys=list(self._seen_keys),
            notifier=None
            if self._notifier_ is None
            else self._notifier_.carry_over().model_dump(mode="json"),
        )
