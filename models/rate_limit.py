"""The events rate limit's shared state: hits per key and second.

Only ``tocsin_rate_limit_take()`` (migration 0010, called by web/ratelimit.py) reads and
writes it; the class is here so the schema is declared with the others."""

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class RateLimitBucket(SQLModel, table=True):
    __tablename__ = "rate_limit_bucket"

    key: str = Field(primary_key=True)
    second: int = Field(sa_column=Column(BigInteger, primary_key=True))
    hits: int
