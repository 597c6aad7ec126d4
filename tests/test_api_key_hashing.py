"""API keys are stored as a keyed hash (HMAC-SHA256 under a key derived from
TOCSIN_WEBHOOK_SIGNING_KEY); keys stored the older unkeyed way keep working and are re-stored
keyed on first use, so no migration is needed."""

import hashlib
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from models import ApiKey
from models.db import session_scope
from tests.conftest import API_KEYS, make_api_key
from tocsin.keys import KEYED_PREFIX, ApiKeyHasher, hash_key, new_api_key, new_id


def test_the_keyed_hash_depends_on_the_secret_and_fits_the_column() -> None:
    key = new_api_key()
    stored = ApiKeyHasher("one").stored(key)
    assert stored.startswith(KEYED_PREFIX) and len(stored) <= 64
    assert stored != ApiKeyHasher("two").stored(key)
    assert stored == ApiKeyHasher("one").stored(key)
    assert hashlib.sha256(key.encode()).hexdigest() not in stored
    assert ApiKeyHasher("one").candidates(key) == [stored, hash_key(key)]
    assert ApiKeyHasher("one").outdated(hash_key(key))
    assert not ApiKeyHasher("one").outdated(stored)


def test_without_a_secret_keys_are_stored_unkeyed() -> None:
    key = new_api_key()
    assert ApiKeyHasher(None).stored(key) == hash_key(key)
    assert ApiKeyHasher(None).candidates(key) == [hash_key(key)]
    assert not ApiKeyHasher(None).outdated(hash_key(key))


async def _stored_hash(engine: AsyncEngine, key_id: str) -> str:
    async with session_scope(engine) as session:
        row = await session.get(ApiKey, key_id)
        assert row is not None
        return row.key_hash


async def _insert(engine: AsyncEngine, key_hash: str) -> str:
    key_id = new_id("key")
    async with session_scope(engine) as session:
        session.add(
            ApiKey(id=key_id, name="old", key_hash=key_hash, key_prefix="tk_", scopes=["admin"])
        )
    return key_id


async def test_a_key_made_through_the_api_is_stored_keyed(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    admin = {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}
    created = await http.post(
        "/api/api-keys",
        json={"name": f"k-{uuid.uuid4().hex[:6]}", "scopes": ["admin"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert await _stored_hash(engine, body["id"]) == API_KEYS.stored(body["key"])
    assert (
        await http.get("/api/api-keys", headers={"Authorization": f"Bearer {body['key']}"})
    ).status_code == 200


async def test_an_unkeyed_stored_key_works_and_is_upgraded_on_use(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = new_api_key()
    key_id = await _insert(engine, hash_key(key))  # as keys were stored before
    bearer = {"Authorization": f"Bearer {key}"}

    assert (await http.get("/api/api-keys", headers=bearer)).status_code == 200
    assert await _stored_hash(engine, key_id) == API_KEYS.stored(key)
    assert (await http.get("/api/api-keys", headers=bearer)).status_code == 200


async def test_a_hash_keyed_under_another_secret_does_not_authenticate(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = new_api_key()
    await _insert(engine, ApiKeyHasher("someone-else's-key").stored(key))
    answer = await http.get("/api/api-keys", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 401
