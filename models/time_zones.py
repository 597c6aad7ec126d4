"""The one check that a name is an IANA time zone this machine knows."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def known_time_zone(name: str) -> ZoneInfo:
    """The zone, or ValueError("unknown time zone ...").

    zoneinfo raises more than ZoneInfoNotFoundError for bad keys: ValueError for malformed
    ones and OSError (IsADirectoryError) for a tzdata folder such as "Europe".
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise ValueError(f"unknown time zone {name!r}") from err
