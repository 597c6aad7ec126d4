"""People and teams: who may be paged, and which services their API keys reach."""

from datetime import datetime

from sqlalchemy import Index, PrimaryKeyConstraint
from sqlmodel import Field, SQLModel

from models.columns import timestamp, utcnow

ROLES = ("admin", "responder", "observer")


class User(SQLModel, table=True):
    # "user" is a reserved word in PostgreSQL; a plain name keeps hand-written SQL simple.
    __tablename__ = "user_account"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    # Stored lowercased, so uniqueness is case-insensitive.
    email: str = Field(unique=True, max_length=320)
    timezone: str = Field(max_length=64)
    role: str = Field(max_length=16)
    # argon2 hash (models/passwords.py); None: the user cannot sign in to the web UI.
    password_hash: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())


class Team(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(unique=True, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_member"
    # The primary key serves lookups by team; authentication looks up by user on every request.
    __table_args__ = (
        PrimaryKeyConstraint("team_id", "user_id"),
        Index("ix_team_member_user_id", "user_id"),
    )

    team_id: str = Field(foreign_key="team.id", max_length=40)
    user_id: str = Field(foreign_key="user_account.id", max_length=40)
