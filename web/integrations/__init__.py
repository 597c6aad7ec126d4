"""Payload adapters: each sender's JSON in, Tocsin events out.

One module per integration type, each a pure function ``parse(body, config) -> list of
InboundEvent`` (no I/O, tested directly), plus how the sender signs its requests if it
does. ``registry.ADAPTERS`` lists them; web/native_integrations.py serves them at
``/api/integrations/<type>/<integration key>``. Adding a sender is one module, one registry
line and its tests.
"""
