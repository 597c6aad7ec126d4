"""Replays recorded histories: a nondeterministic change to the workflow fails here.

To record a new history after an intended, patched change, fetch one from a test run with
``handle.fetch_history()`` and save ``history.to_json()`` beside the others.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tocsin.settings import Settings
from worker import workflow_runner
from workflows.incident import IncidentWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
TEXTS = {p: p.read_text() for p in HISTORIES}


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "as-deployed"])
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path, sandboxed: bool) -> None:
    """Under the runner the suite's workers use and the one `tocsin worker` uses."""
    history = WorkflowHistory.from_json("incident", TEXTS[path])
    replayer = Replayer(
        workflows=[IncidentWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(Settings(workflow_sandbox=sandboxed)),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_there_is_a_recorded_history() -> None:
    assert HISTORIES
