"""Column helpers shared by the tables, so every timestamp and JSON field is typed the same."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp(*, nullable: bool = False, index: bool = False) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


def jsonb(*, nullable: bool = True) -> Any:
    return Column(JSONB, nullable=nullable)
