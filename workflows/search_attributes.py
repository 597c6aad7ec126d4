"""Custom search attributes that let an operator find an incident's run in the Temporal UI."""

from temporalio.common import SearchAttributeKey

SERVICE_ID = SearchAttributeKey.for_keyword("TocsinServiceId")
DEDUP_KEY = SearchAttributeKey.for_keyword("TocsinDedupKey")
STATUS = SearchAttributeKey.for_keyword("TocsinStatus")
URGENCY = SearchAttributeKey.for_keyword("TocsinUrgency")

ALL = (SERVICE_ID, DEDUP_KEY, STATUS, URGENCY)
