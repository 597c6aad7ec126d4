"""The read side and configuration tables (SQLModel on PostgreSQL).

Importing this package registers every table on ``SQLModel.metadata`` (alembic needs that).
Never import it from workflows/: the workflow sandbox must not see table classes.
"""

from models.audit import AuditEntry
from models.auth import ApiKey
from models.change_events import ChangeEvent
from models.escalation import EscalationPolicy, EscalationStep
from models.incident import Alert, Incident, IncidentTally
from models.notifications import ContactMethod, Notification, NotificationAttempt, NotificationRule
from models.rate_limit import RateLimitBucket
from models.schedules import CalendarFeed, Schedule, ScheduleOverride
from models.service import Integration, Service
from models.suppression import SuppressionRule
from models.timeline import TimelineEntry
from models.user import Team, TeamMember, User

__all__ = [
    "Alert",
    "ApiKey",
    "AuditEntry",
    "CalendarFeed",
    "ChangeEvent",
    "ContactMethod",
    "EscalationPolicy",
    "EscalationStep",
    "Incident",
    "IncidentTally",
    "Integration",
    "Notification",
    "NotificationAttempt",
    "NotificationRule",
    "RateLimitBucket",
    "Schedule",
    "ScheduleOverride",
    "Service",
    "SuppressionRule",
    "Team",
    "TeamMember",
    "TimelineEntry",
    "User",
]
