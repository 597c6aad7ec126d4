"""Runs the real ``deliver`` activity on the real Temporal server, with a retry policy, the
way the incident workflow will: a test-only workflow on a worker of its own."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from activities.deliveries import DeliveryActivities
from activities.names import DELIVER
from activities.senders import build_senders, close_senders
from models.db import session_scope
from models.notifications import Notification, NotificationAttempt
from tocsin.settings import Settings
from workflows.messages import EscalationStatus, IncidentSnapshot, Status, Urgency
from workflows.notifications import (
    Channel,
    Delivery,
    DeliveryResult,
    EventType,
    IncidentEvent,
    Purpose,
    Recipient,
)

RETRY_INITIAL_SECONDS = 0.2


@workflow.defn(sandboxed=False)
class DeliverOnce:
    @workflow.run
    async def run(self, delivery: Delivery) -> DeliveryResult:
        return await workflow.execute_activity(
            DELIVER,
            delivery,
            result_type=DeliveryResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=RETRY_INITIAL_SECONDS),
                backoff_coefficient=1.0,
                maximum_attempts=delivery.max_attempts,
            ),
        )


Deliver = Callable[[Delivery], Awaitable[DeliveryResult]]


@asynccontextmanager
async def delivery_worker(
    client: Client, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[Deliver]:
    """A worker with the senders ``settings`` build; yields "deliver this and wait"."""
    queue = f"deliver-test-{uuid.uuid4().hex[:8]}"
    senders = build_senders(settings, engine)
    activities = DeliveryActivities(engine, senders)
    worker = Worker(
        client, task_queue=queue, workflows=[DeliverOnce], activities=[activities.deliver]
    )

    async def deliver(delivery: Delivery) -> DeliveryResult:
        return await client.execute_workflow(
            DeliverOnce.run,
            delivery,
            id=f"deliver-{uuid.uuid4().hex}",
            task_queue=queue,
        )

    try:
        async with worker:
            yield deliver
    finally:
        await close_senders(senders)


def make_delivery(
    channel: Channel,
    address: str,
    *,
    service_id: str | None = None,
    event_type: EventType = EventType.TRIGGERED,
    title: str = "CPU above 90%",
    max_attempts: int = 4,
    purpose: Purpose = Purpose.ANNOUNCE,
    recipient: Recipient | None = None,
    **event_fields: Any,
) -> Delivery:
    now = datetime.now(UTC)
    incident_id = f"inc_{uuid.uuid4().hex[:12]}"
    incident = IncidentSnapshot(
        id=incident_id,
        workflow_id=f"wf-{incident_id}",
        service_id=service_id or f"svc_{uuid.uuid4().hex[:8]}",
        dedup_key="cpu-high",
        title=title,
        description="Load average above threshold",
        status=Status.OPEN,
        urgency=Urgency.HIGH,
        priority="P1",
        escalation_status=EscalationStatus.ACTIVE,
        alert_count=2,
        created_at=now,
        last_alert_at=now,
        version=1,
    )
    event = IncidentEvent(
        seq=1,
        type=event_type,
        at=now,
        actor="integration:int_123",
        message="Triggered by prometheus",
        incident=incident,
        service_name="API Gateway",
        source="prometheus",
        **event_fields,
    )
    return Delivery(
        key=f"{incident_id}:1:{channel.value}:{uuid.uuid4().hex[:6]}",
        channel=channel,
        purpose=purpose,
        address=address,
        event=event,
        recipient=recipient,
        max_attempts=max_attempts,
    )


async def notification(engine: AsyncEngine, key: str) -> Notification:
    async with session_scope(engine) as session:
        return (await session.exec(select(Notification).where(Notification.key == key))).one()


async def attempts(engine: AsyncEngine, key: str) -> list[NotificationAttempt]:
    async with session_scope(engine) as session:
        rows = await session.exec(
            select(NotificationAttempt)
            .where(NotificationAttempt.key == key)
            .order_by(col(NotificationAttempt.attempt))
        )
        return list(rows.all())
