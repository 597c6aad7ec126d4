"""Hypothesis strategies for adapter robustness: random JSON, and valid payloads with one
value replaced or removed. An adapter must answer either events or InvalidPayload."""

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from web.integrations.event import InboundEvent, InvalidPayload

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths.extend(_paths(item, (*prefix, index)))
    return paths


@st.composite
def mutations(draw: st.DrawFn, payload: Any) -> Any:
    """``payload`` with one value (anywhere, the whole body included) replaced or deleted."""
    body = copy.deepcopy(payload)
    path = draw(st.sampled_from(_paths(body)))
    if not path:
        return draw(json_values)
    parent = body
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return body


def events_or_invalid(parse: Callable[[Any], list[InboundEvent]], body: Any) -> None:
    try:
        events = parse(body)
    except InvalidPayload as err:
        assert err.errors and all(isinstance(e, str) and e for e in err.errors)
        return
    assert isinstance(events, list)
    assert all(isinstance(event, InboundEvent) for event in events)
