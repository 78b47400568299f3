"""The database models, one module per aggregate. Import from here."""

from webapp.models.api import API_SCOPES, ApiIdempotencyKey, ApiToken
from webapp.models.channels import Attempt, Channel
from webapp.models.contacts import Company, Person
from webapp.models.jobs import (
    EntryLevel,
    Job,
    JobLogEntry,
    JobRun,
    LogLevel,
    Priority,
    RunStatus,
    ScheduleKind,
)
from webapp.models.mandanten import Mandant
from webapp.models.orders import Ticket, WorkOrder
from webapp.models.overview import DailyCount, DailySignal
from webapp.models.series import Series, SeriesState
from webapp.models.settings import GlobalVariable, GlobalVariableType, MobilePrefix
from webapp.models.sms import (
    NEEDS_DECISION,
    RESENDABLE,
    Message,
    MessagePart,
    MessageSource,
    MessageStatus,
    PartStatus,
    ReceivedMessage,
    SmsText,
    UnclearDecision,
    WebhookNotification,
)
from webapp.models.users import Role, RolePermission, User

__all__ = [
    "API_SCOPES",
    "NEEDS_DECISION",
    "RESENDABLE",
    "ApiIdempotencyKey",
    "ApiToken",
    "Attempt",
    "Channel",
    "Company",
    "DailyCount",
    "DailySignal",
    "EntryLevel",
    "GlobalVariable",
    "GlobalVariableType",
    "Job",
    "JobLogEntry",
    "JobRun",
    "LogLevel",
    "Mandant",
    "Message",
    "MessagePart",
    "MessageSource",
    "MessageStatus",
    "MobilePrefix",
    "PartStatus",
    "Person",
    "Priority",
    "ReceivedMessage",
    "Role",
    "RolePermission",
    "RunStatus",
    "ScheduleKind",
    "Series",
    "SeriesState",
    "SmsText",
    "Ticket",
    "UnclearDecision",
    "User",
    "WebhookNotification",
    "WorkOrder",
]
