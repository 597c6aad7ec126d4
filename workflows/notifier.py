"""The incident workflow's notification side: escalation steps, Slack, webhooks.

Workflow code (it runs inside the incident workflow and uses only ``temporalio.workflow``),
kept apart from the lifecycle in workflows/incident.py. Three loops run beside the
workflow's main loop, so a slow channel never delays an acknowledgement:

- escalation: sleeps on a durable timer until the next step is due, then pages the step's
  people on their channels (each page and each step is a timeline entry);
- Slack: keeps every Slack message of the incident (the service channel's and the DMs)
  showing the latest state, coalescing bursts; replies in the thread on resolve;
- webhooks: one signed POST per lifecycle event to the service's webhook.

On resolve the deliveries still under way are handed to a ``Deliveries`` child workflow
(workflows/deliveries.py), so the incident closes at once and a new trigger opens a new one.
"""

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ParentClosePolicy

from activities.names import (
    FIND_RECIPIENTS,
    LOAD_ESCALATION_POLICY,
    OPEN_INCIDENT_ROOM,
    SERVICE_CHANNELS,
)
from workflows.deliveries import deliver
from workflows.delivery_plan import BUDGETS, event_key, page_key
from workflows.escalation import Escalation, PolicyLookup, begin, fire, pause, resume, stop
from workflows.messages import IncidentSnapshot, Status, TimelineEntry
from workflows.notifications import (
    Channel,
    CloseIncidentRoomIn,
    Delivery,
    DeliveryResult,
    EventType,
    Handoff,
    IncidentEvent,
    IncidentRoom,
    IncidentRoomIn,
    Purpose,
    ScheduleOnCall,
    ServiceChannels,
    SlackMessage,
    StepRecipients,
    StepTargets,
)

ESCALATION_ACTOR = "escalation"
LOOKUP_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
)
# Priorities that get their own Slack channel (when TOCSIN_SLACK_INCIDENT_CHANNELS is on).
ROOM_PRIORITIES = ("P1", "P2")
# Bounds the Slack messages kept in sync (one per person paged, plus the channel's).
MAX_SLACK_MESSAGES = 50
# Patch id: the Slack and webhook loops share one channel lookup per event.
SHARED_CHANNEL_LOOKUP = "one-channel-lookup-per-event"
# Patch id (runs started on it only): a step's policy lookup also brings the service's
# channels for the events of that moment, and the incident's read-side write waits for a
# due step's lookups. A new incident then costs one lookup and one write instead of two of
# each (local activities are a large part of the worker's CPU per incident).
ONE_LOOKUP_PER_STEP = "one-lookup-per-step"


class NotifierState(BaseModel):
    """What the notification side carries over continue-as-new."""

    escalation: Escalation | None = None
    slack_messages: list[SlackMessage] = Field(default_factory=list)
    announced: bool = False
    replied: bool = False
    latest: IncidentEvent | None = None
    slack_synced_seq: int = 0
    webhook_events: list[IncidentEvent] = Field(default_factory=list)
    source: str | None = None
    custom_details: dict[str, Any] | None = None
    # Slack addresses pages reached: invited to the incident's own channel.
    responders: list[str] = Field(default_factory=list)
    room_tried: bool = False
    room: str | None = None


class Host(Protocol):
    """What the notifier needs of the incident workflow."""

    @property
    def incident(self) -> IncidentSnapshot | None: ...

    def record(self, actor: str, kind: str, message: str, data: dict) -> TimelineEntry: ...

    def assign(self, user_id: str, actor: str) -> None: ...

    def escalation_finished(self) -> None: ...

    def patched(self, patch_id: str) -> bool: ...


class Notifier:
    def __init__(self, host: Host, state: NotifierState) -> None:
        self._host = host
        self.state = state
        self._webhooks: deque[IncidentEvent] = deque(state.webhook_events)
        self._changed = 0  # bumped on every escalation change, to wake the escalation loop
        self._paging = False
        self._in_flight: dict[str, Delivery] = {}
        self._loops: list[asyncio.Task[None]] = []
        # Pages of a step and webhook deliveries under way.
        self._tasks: list[asyncio.Task[None]] = []
        # The service's channels as looked up for the event with this seq.
        self._channel_lookup: tuple[int, asyncio.Task[ServiceChannels]] | None = None
        self._one_lookup = host.patched(ONE_LOOKUP_PER_STEP)

    # --- called by the workflow's handlers (synchronous state changes) ----------------------

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._escalate()),
            asyncio.create_task(self._sync_slack()),
            asyncio.create_task(self._send_webhooks()),
        ]

    def context(self, source: str | None, custom_details: dict[str, Any] | None) -> None:
        self.state.source = source
        self.state.custom_details = custom_details

    def event(self, seq: int, type_: EventType, actor: str, message: str) -> IncidentEvent:
        incident = self._host.incident
        assert incident is not None
        event = IncidentEvent(
            seq=seq,
            type=type_,
            at=workflow.now(),
            actor=actor,
            message=message,
            incident=incident.model_copy(),
            source=self.state.source,
            custom_details=self.state.custom_details,
        )
        self.state.latest = event
        self._webhooks.append(event)
        return event

    def begin_escalation(self) -> None:
        cycle = 0 if self.state.escalation is None else self.state.escalation.cycle + 1
        self._set_escalation(begin(workflow.now(), cycle))

    def stop_escalation(self) -> None:
        if self.state.escalation is not None:
            self._set_escalation(stop(self.state.escalation))

    def pause_escalation(self) -> None:
        if self.state.escalation is not None:
            self._set_escalation(pause(self.state.escalation, workflow.now()))

    def resume_or_restart_escalation(self) -> None:
        """Back to OPEN: a snooze that paused the clock resumes it, anything else restarts."""
        esc = self.state.escalation
        if esc is not None and esc.paused_remaining is not None:
            self._set_escalation(resume(esc, workflow.now()))
        else:
            self.begin_escalation()

    def holds_writes(self) -> bool:
        """An escalation step is due or firing: the incident writes the read side once the
        step's lookups are done, with what the step recorded."""
        if not self._one_lookup:
            return False
        esc = self.state.escalation
        due = None if esc is None or esc.finished else esc.due_at
        return self._paging or (due is not None and due <= workflow.now())

    def escalating(self) -> bool:
        esc = self.state.escalation
        return esc is not None and not esc.finished

    def idle(self) -> bool:
        """Nothing under way, so the run may continue as new."""
        latest = self.state.latest
        return (
            not self._paging
            and not self._in_flight
            and all(t.done() for t in self._tasks)
            and not self._webhooks
            and (latest is None or latest.seq <= self.state.slack_synced_seq)
        )

    def carry_over(self) -> NotifierState:
        return self.state.model_copy(update={"webhook_events": list(self._webhooks)})

    async def close(self) -> None:
        """The incident is resolved: stop paging, hand what is left to a child workflow."""
        for task in self._loops + self._tasks:
            task.cancel()
        # Pages for a resolved incident are dropped; announcements and updates are not.
        leftover = [d for d in self._in_flight.values() if d.purpose != Purpose.PAGE]
        self._in_flight.clear()
        latest = self.state.latest
        unsynced = latest if latest and latest.seq > self.state.slack_synced_seq else None
        pending_webhooks = list(self._webhooks)
        self._webhooks.clear()
        if unsynced is not None or pending_webhooks:
            channels = await self._channels()
            if unsynced is not None:
                unsynced = unsynced.model_copy(update={"service_name": channels.service_name})
                leftover.extend(self._slack_refresh(unsynced))
                leftover.extend(self._slack_reply(unsynced))
                if any(d.purpose == Purpose.ANNOUNCE for d in leftover):
                    # Its ts is known only once it is posted: the child fills it in.
                    leftover.extend(self._announcement_followups(unsynced))
            leftover.extend(d for e in pending_webhooks if (d := self._webhook(e, channels)))
        room = self.state.room
        if not leftover and room is None:
            return
        incident = self._host.incident
        assert incident is not None
        close_room = (
            None if room is None else CloseIncidentRoomIn(incident_id=incident.id, channel=room)
        )
        await workflow.start_child_workflow(
            "Deliveries",
            Handoff(deliveries=leftover, close_room=close_room),
            id=f"deliveries/{incident.id}/{workflow.info().run_id}",
            task_queue=workflow.info().task_queue,
            parent_close_policy=ParentClosePolicy.ABANDON,
        )

    # --- escalation -------------------------------------------------------------------------

    def _set_escalation(self, escalation: Escalation) -> None:
        self.state.escalation = escalation
        self._changed += 1

    async def _escalate(self) -> None:
        while True:
            seen = self._changed
            esc = self.state.escalation
            due = None if esc is None or esc.finished else esc.due_at
            if due is None:
                await workflow.wait_condition(self._changed_since(seen))
                continue
            left = due - workflow.now()
            if left > timedelta(0):
                try:
                    await workflow.wait_condition(self._changed_since(seen), timeout=left)
                except TimeoutError:
                    pass
                continue
            self._paging = True
            try:
                await self._fire()
            finally:
                self._paging = False

    def _changed_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._changed != seen

    async def _fire(self) -> None:
        incident = self._host.incident
        assert incident is not None and self.state.escalation is not None
        seen = self._changed
        lookup = await self._look_up_policy()
        if self._changed != seen:
            return  # acknowledged, snoozed or resolved meanwhile: the loop looks again
        if lookup.policy is None:
            self._set_escalation(stop(self.state.escalation))
            self._host.record(
                ESCALATION_ACTOR,
                "escalation",
                "No escalation policy and no team: nobody to notify",
                {"source": lookup.source},
            )
            self._host.escalation_finished()
            return
        cycle = self.state.escalation.cycle
        due_at = self.state.escalation.due_at
        step, following = fire(lookup.policy, self.state.escalation, workflow.now())
        self._set_escalation(following)
        if step is None:
            self._host.escalation_finished()
            return
        found: StepRecipients = await workflow.execute_local_activity(
            FIND_RECIPIENTS,
            StepTargets(
                service_id=incident.service_id,
                targets=[t.model_dump() for t in step.targets],
                urgency=incident.urgency,
                channels=None if step.channels is None else [Channel(c) for c in step.channels],
                at=workflow.now(),
            ),
            # Same command as before schedule targets; older runs recorded a bare list.
            result_type=StepRecipients,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=LOOKUP_RETRY,
        )
        pages = found.pages
        names = list(dict.fromkeys(p.recipient.name for p in pages))
        label = f"step {step.index + 1}" + (f", round {step.round + 1}" if step.round else "")
        data: dict[str, Any] = {
            "policyId": lookup.policy.id,
            "source": lookup.source,
            "step": step.index + 1,
            "round": step.round,
            "targets": [t.model_dump() for t in step.targets],
            "recipients": names,
        }
        if found.schedules:
            data["schedules"] = {
                s.schedule_id: [r.user_id for r in s.on_call] for s in found.schedules
            }
        entry = self._host.record(
            ESCALATION_ACTOR,
            "escalation",
            (
                f"Escalation {label}: notifying {', '.join(names)}"
                if names
                else f"Escalation {label}: nobody to notify"
            )
            + "".join(f"; {_on_call(s)}" for s in found.schedules),
            data,
        )
        event = self.event(entry.seq, EventType.ESCALATED, ESCALATION_ACTOR, f"Escalated ({label})")
        if self._one_lookup and self._channel_lookup is not None:
            # Announced with the channels just read for this step.
            self._channel_lookup = (event.seq, self._channel_lookup[1])
        event = event.model_copy(update={"service_name": lookup.service_name})
        deliveries = [
            self._delivery(
                page_key(incident.id, cycle, step.index + 1, step.round, page),
                page.channel,
                Purpose.PAGE,
                page.address,
                event,
                recipient=page.recipient,
                step=step.index + 1,
                round=step.round,
                due_at=due_at,
            )
            for page in pages
        ]
        workflow.logger.info("escalation %s: %d page(s)", label, len(deliveries))
        if following.finished:
            self._host.escalation_finished()
        # The step's deliveries go on beside the escalation: a channel that retries for
        # minutes never makes the next step late.
        self._spawn(self._page(deliveries))

    async def _page(self, deliveries: list[Delivery]) -> None:
        """Each result is recorded when it comes; the first person reached is assigned."""

        async def one(delivery: Delivery) -> None:
            result = await self._deliver(delivery)
            self._note_result(delivery, result)
            if result.status == "sent" and delivery.recipient is not None:
                self._host.assign(delivery.recipient.user_id, ESCALATION_ACTOR)
                if (
                    delivery.channel == Channel.SLACK
                    and delivery.address not in self.state.responders
                ):
                    self.state.responders.append(delivery.address)

        await asyncio.gather(*(one(d) for d in deliveries))

    # --- Slack ------------------------------------------------------------------------------

    async def _sync_slack(self) -> None:
        while True:
            await workflow.wait_condition(
                lambda: (
                    self.state.latest is not None
                    and self.state.latest.seq > self.state.slack_synced_seq
                )
            )
            latest = self.state.latest
            assert latest is not None
            channels = await self._channels()
            latest = latest.model_copy(update={"service_name": channels.service_name})
            await self._open_room(latest)
            if channels.slack_channel and not self.state.announced:
                self.state.announced = True  # posted at most once, even if it fails
                announce = self._delivery(
                    event_key(
                        latest.incident.id,
                        latest.seq,
                        Channel.SLACK,
                        Purpose.ANNOUNCE,
                        channels.slack_channel,
                    ),
                    Channel.SLACK,
                    Purpose.ANNOUNCE,
                    channels.slack_channel,
                    latest,
                )
                result = await self._deliver(announce)
                self._note_result(announce, result)
                self._keep(result, latest.seq, announcement=True)
            updates = self._slack_refresh(latest)
            replies = self._slack_reply(latest)
            results = await asyncio.gather(*(self._deliver(d) for d in updates + replies))
            for delivery, result in zip(updates + replies, results, strict=True):
                if delivery.purpose == Purpose.REPLY or result.status != "sent":
                    self._note_result(delivery, result)
            if replies:
                self.state.replied = True
            self.state.slack_synced_seq = latest.seq

    async def _open_room(self, latest: IncidentEvent) -> None:
        """A P1/P2 incident's own channel, opened once, with the responders paged so far and
        a message kept in sync like the others; archived after resolve."""
        incident = latest.incident
        if (
            self.state.room_tried
            or incident.priority not in ROOM_PRIORITIES
            or incident.status == Status.RESOLVED
        ):
            return
        self.state.room_tried = True
        request = IncidentRoomIn(
            incident_id=incident.id, title=incident.title, responders=self.state.responders
        )
        try:
            room: IncidentRoom = await workflow.execute_activity(
                OPEN_INCIDENT_ROOM,
                request,
                result_type=IncidentRoom,
                start_to_close_timeout=BUDGETS[Channel.SLACK].attempt_timeout,
                retry_policy=BUDGETS[Channel.SLACK].retry,
            )
        except ActivityError as err:
            self._host.record(
                "notifier",
                "notification",
                f"Incident channel: failed ({err.cause or err})",
                {"purpose": "room", "status": "failed"},
            )
            return
        if room.channel is None:
            return  # incident channels are off
        self.state.room = room.channel
        self._host.record(
            "notifier",
            "notification",
            f"Incident channel #{room.name} opened",
            {"purpose": "room", "status": "sent", "channel": room.channel, "invited": room.invited},
        )
        post = self._delivery(
            event_key(incident.id, latest.seq, Channel.SLACK, "room", room.channel),
            Channel.SLACK,
            Purpose.ANNOUNCE,
            room.channel,
            latest,
        )
        self._keep(await self._deliver(post), latest.seq)

    def _slack_refresh(self, latest: IncidentEvent) -> list[Delivery]:
        return [
            self._delivery(
                event_key(latest.incident.id, latest.seq, Channel.SLACK, "update", m.ts),
                Channel.SLACK,
                Purpose.UPDATE,
                m.channel,
                latest,
                slack_channel=m.channel,
                slack_ts=m.ts,
            )
            for m in self.state.slack_messages
            if m.seq < latest.seq  # a message posted for this very event already shows it
        ]

    def _slack_reply(self, latest: IncidentEvent) -> list[Delivery]:
        if latest.incident.status != Status.RESOLVED or self.state.replied:
            return []
        return [
            self._delivery(
                event_key(latest.incident.id, latest.seq, Channel.SLACK, Purpose.REPLY, m.ts),
                Channel.SLACK,
                Purpose.REPLY,
                m.channel,
                latest,
                slack_channel=m.channel,
                slack_ts=m.ts,
            )
            for m in self.state.slack_messages
            if m.announcement
        ]

    def _announcement_followups(self, latest: IncidentEvent) -> list[Delivery]:
        """An update and (when resolved) a thread reply for the channel message still being
        posted; ``slack_ts`` None means "the announcement posted before me"."""
        incident_id = latest.incident.id
        out = [
            self._delivery(
                event_key(incident_id, latest.seq, Channel.SLACK, "update", "announcement"),
                Channel.SLACK,
                Purpose.UPDATE,
                "announcement",
                latest,
            )
        ]
        if latest.incident.status == Status.RESOLVED:
            out.append(
                self._delivery(
                    event_key(incident_id, latest.seq, Channel.SLACK, "reply", "announcement"),
                    Channel.SLACK,
                    Purpose.REPLY,
                    "announcement",
                    latest,
                )
            )
        return out

    def _keep(
        self, result: DeliveryResult, seq: int, announcement: bool = False
    ) -> SlackMessage | None:
        if result.status != "sent" or not result.slack_channel or not result.slack_ts:
            return None
        if len(self.state.slack_messages) >= MAX_SLACK_MESSAGES:
            return None
        message = SlackMessage(
            channel=result.slack_channel, ts=result.slack_ts, announcement=announcement, seq=seq
        )
        self.state.slack_messages.append(message)
        return message

    # --- webhooks ---------------------------------------------------------------------------

    async def _send_webhooks(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._webhooks))
            event = self._webhooks[0]
            channels = await self._channels()
            delivery = self._webhook(event, channels)
            self._webhooks.popleft()
            if delivery is not None:
                self._spawn(self._webhook_delivery(delivery))

    async def _webhook_delivery(self, delivery: Delivery) -> None:
        self._note_result(delivery, await self._deliver(delivery))

    def _webhook(self, event: IncidentEvent, channels: ServiceChannels) -> Delivery | None:
        if not channels.webhook_url:
            return None
        event = event.model_copy(update={"service_name": channels.service_name})
        key = event_key(
            event.incident.id, event.seq, Channel.WEBHOOK, Purpose.ANNOUNCE, channels.webhook_url
        )
        return self._delivery(key, Channel.WEBHOOK, Purpose.ANNOUNCE, channels.webhook_url, event)

    # --- plumbing ---------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(work))

    async def _channels(self) -> ServiceChannels:
        """The service's Slack channel and webhook, looked up once per event for both loops
        (runs recorded before the patch looked up once per loop)."""
        if not self._host.patched(SHARED_CHANNEL_LOOKUP):
            return await self._look_up_channels()
        latest = self.state.latest
        seq = latest.seq if latest is not None else 0
        if self._channel_lookup is None or self._channel_lookup[0] != seq:
            self._channel_lookup = (seq, asyncio.create_task(self._look_up_channels()))
        # Shielded: one loop being cancelled must not cancel the other's lookup.
        return await asyncio.shield(self._channel_lookup[1])

    async def _look_up_policy(self) -> PolicyLookup:
        """The policy, fresh for each step; in runs with ``ONE_LOOKUP_PER_STEP`` its channels
        also answer the loops' lookups for the current event."""
        incident = self._host.incident
        assert incident is not None
        if not self._one_lookup:
            return await self._load_policy(incident.service_id)
        lookup = asyncio.create_task(self._load_policy(incident.service_id))
        latest = self.state.latest
        seq = latest.seq if latest is not None else 0
        self._channel_lookup = (seq, asyncio.create_task(self._channels_of(lookup)))
        # Shielded: the loops may be waiting on it even if this one is cancelled.
        return await asyncio.shield(lookup)

    async def _load_policy(self, service_id: str) -> PolicyLookup:
        policy: PolicyLookup = await workflow.execute_local_activity(
            LOAD_ESCALATION_POLICY,
            service_id,
            result_type=PolicyLookup,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=LOOKUP_RETRY,
        )
        return policy

    async def _channels_of(self, lookup: asyncio.Task[PolicyLookup]) -> ServiceChannels:
        found = await asyncio.shield(lookup)
        return found.channels if found.channels is not None else await self._look_up_channels()

    async def _look_up_channels(self) -> ServiceChannels:
        incident = self._host.incident
        assert incident is not None
        channels: ServiceChannels = await workflow.execute_local_activity(
            SERVICE_CHANNELS,
            incident.service_id,
            result_type=ServiceChannels,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=LOOKUP_RETRY,
        )
        return channels

    def _delivery(
        self,
        key: str,
        channel: Channel,
        purpose: Purpose,
        address: str,
        event: IncidentEvent,
        **extra: Any,
    ) -> Delivery:
        return Delivery(
            key=key,
            channel=channel,
            purpose=purpose,
            address=address,
            event=event,
            max_attempts=BUDGETS[channel].max_attempts,
            **extra,
        )

    async def _deliver(self, delivery: Delivery) -> DeliveryResult:
        """``deliver``, tracked so that leftovers can be handed off on resolve."""
        self._in_flight[delivery.key] = delivery
        result = await deliver(delivery)
        self._in_flight.pop(delivery.key, None)
        if delivery.purpose == Purpose.PAGE and delivery.channel == Channel.SLACK:
            self._keep(result, delivery.event.seq)
        return result

    def _note_result(self, delivery: Delivery, result: DeliveryResult) -> None:
        who = delivery.recipient.name if delivery.recipient else delivery.address
        what = {
            Purpose.PAGE: f"{delivery.channel.value} to {who}",
            Purpose.ANNOUNCE: f"{delivery.channel.value} {delivery.event.type.value} to {who}",
            Purpose.UPDATE: f"Slack message update in {who}",
            Purpose.REPLY: f"Slack thread reply in {who}",
        }[delivery.purpose]
        detail = f" ({result.detail})" if result.detail else ""
        self._host.record(
            "notifier",
            "notification",
            f"{what}: {result.status}{detail}",
            {
                "key": delivery.key,
                "channel": delivery.channel.value,
                "purpose": delivery.purpose.value,
                "status": result.status,
                "userId": delivery.recipient.user_id if delivery.recipient else None,
                "step": delivery.step,
            },
        )


def _on_call(schedule: ScheduleOnCall) -> str:
    if not schedule.on_call:
        return f"nobody on call for {schedule.name}"
    return f"on call for {schedule.name}: {', '.join(r.name for r in schedule.on_call)}"
