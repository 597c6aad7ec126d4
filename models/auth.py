"""API keys: bearer credentials with scopes and an optional service restriction."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.columns import jsonb, timestamp, utcnow


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    key_hash: str = Field(unique=True, max_length=64)
    key_prefix: str = Field(max_length=12)
    scopes: list[str] = Field(default_factory=list, sa_column=jsonb(nullable=False))
    # None: every service; otherwise only these service ids.
    service_ids: list[str] | None = Field(default=None, sa_column=jsonb())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    # A key of a non-admin user reaches only the services of the user's teams.
    user_id: str | None = Field(
        default=None, foreign_key="user_account.id", index=True, max_length=40
    )
