"""Sealed secrets open only with the key they were sealed under."""

import pytest

from tocsin.secret_box import SecretBoxUnavailable, seal, unseal
from tocsin.settings import Settings


def test_round_trip_and_wrong_or_missing_key() -> None:
    settings = Settings(webhook_signing_key="key-one")
    token = seal(settings, "hunter22")
    assert "hunter22" not in token and unseal(settings, token) == "hunter22"
    assert seal(settings, "hunter22") != token  # a fresh IV each time
    with pytest.raises(SecretBoxUnavailable):
        unseal(Settings(webhook_signing_key="key-two"), token)
    with pytest.raises(SecretBoxUnavailable):
        seal(Settings(webhook_signing_key=None), "hunter22")
