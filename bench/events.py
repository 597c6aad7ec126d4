"""Kept for imports from before the harness was split: the stack is in ``bench.stack``, the
report helpers in ``bench.report``, and the events benchmark became ``bench.ceilings``,
``bench.distinct`` and ``bench.storm`` (``python -m bench --only ceilings,distinct,storm``)."""

from bench.report import DOCS, nearest_rank, write_docs
from bench.stack import Stack, free_port, running_stack

__all__ = ["DOCS", "Stack", "free_port", "nearest_rank", "running_stack", "write_docs"]
