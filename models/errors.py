"""Why a configuration change was refused, naming the offending field (snake_case).

They subclass ValueError/LookupError so the CLI reports them like any bad input; web/ maps
them to HTTP errors. Nothing here knows about HTTP.
"""


class InvalidValue(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownReference(LookupError):
    """An id in the request names nothing (a team, user or service that does not exist)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        # LookupError's str() would quote the message like a KeyError does.
        return str(self.args[0])


class Conflict(ValueError):
    """A value that must be unique is taken."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InUse(ValueError):
    """Something still refers to the thing being deleted (e.g. services to a policy)."""

    def __init__(self, message: str, referrers: list[str]) -> None:
        super().__init__(message)
        self.referrers = referrers
