"""web/sns.py against a local SNS stand-in: messages signed as SNS signs them are accepted,
anything else is refused, and only allowed URLs are ever fetched."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from tests.fakes.sns import (
    FakeSns,
    SnsSigner,
    alarm_message,
    confirmation,
    notification,
    running_fake_sns,
)
from tocsin.settings import Settings
from web import sns
from web.errors import ApiError

LOCAL = Settings(sns_host_pattern=r"^127\.0\.0\.1$", sns_allow_http=True)
NO_HEADERS: dict[str, str] = {}


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner()


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSns]:
    async with running_fake_sns() as server:
        yield server


async def refused(body: object, settings: Settings = LOCAL) -> ApiError:
    with pytest.raises(ApiError) as err:
        await sns.receive(NO_HEADERS, body, settings)
    return err.value


@pytest.mark.parametrize("version", ["1", "2"])
async def test_signed_notification_is_accepted(
    fake: FakeSns, signer: SnsSigner, version: str
) -> None:
    cert_url = fake.cert_url(signer)
    message = notification(signer, cert_url, alarm_message(), version=version)
    assert await sns.receive({"x-amz-sns-message-type": "Notification"}, message, LOCAL) == message
    again = notification(signer, cert_url, alarm_message(state="OK"), version=version)
    assert await sns.receive(NO_HEADERS, again, LOCAL) == again
    assert fake.fetches_of(cert_url) == 1  # cached by URL


async def test_notification_without_subject_is_accepted(fake: FakeSns, signer: SnsSigner) -> None:
    message = notification(signer, fake.cert_url(signer), alarm_message(), subject=None)
    assert await sns.receive(NO_HEADERS, message, LOCAL) == message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Message", alarm_message(state="OK")),
        ("Subject", "OK: nothing to see"),
        ("MessageId", "00000000-0000-0000-0000-000000000000"),
        ("TopicArn", "arn:aws:sns:eu-west-1:999999999999:other"),
        ("Timestamp", "2020-01-01T00:00:00.000Z"),
    ],
)
async def test_tampered_notification_is_refused(
    fake: FakeSns, signer: SnsSigner, field: str, value: str
) -> None:
    message = notification(signer, fake.cert_url(signer), alarm_message())
    error = await refused({**message, field: value})
    assert (error.status, error.code) == (401, "INVALID_SIGNATURE")


@pytest.mark.parametrize(
    "timestamp",
    ["2020-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z", "not a time", "2020-01-01T00:00:00"],
)
async def test_an_old_signed_notification_is_refused(
    fake: FakeSns, signer: SnsSigner, timestamp: str
) -> None:
    """Correctly signed, but not from now: a captured message replayed."""
    message = notification(signer, fake.cert_url(signer), alarm_message(), timestamp=timestamp)
    error = await refused(message)
    assert error.status in (400, 401)
    assert fake.fetched == [], "refused before fetching anything"


async def test_the_age_limit_is_a_setting(fake: FakeSns, signer: SnsSigner) -> None:
    an_hour_ago = (datetime.now(UTC) - timedelta(minutes=61)).isoformat()
    message = notification(signer, fake.cert_url(signer), alarm_message(), timestamp=an_hour_ago)
    assert (await refused(message)).code == "INVALID_SIGNATURE"
    lenient = LOCAL.model_copy(update={"sns_max_age_seconds": 7200})
    assert await sns.receive(NO_HEADERS, message, lenient) == message


async def test_dropped_subject_is_refused(fake: FakeSns, signer: SnsSigner) -> None:
    message = notification(signer, fake.cert_url(signer), alarm_message())
    del message["Subject"]
    assert (await refused(message)).status == 401


async def test_other_key_is_refused(fake: FakeSns, signer: SnsSigner) -> None:
    forger = SnsSigner()
    message = notification(forger, fake.cert_url(signer), alarm_message())
    assert (await refused(message)).code == "INVALID_SIGNATURE"


@pytest.mark.parametrize(
    "cert_url",
    [
        "http://localhost:{port}/{name}",  # same server, host not allowed
        "http://127.0.0.1.evil.example:{port}/{name}",
        "http://evil.example@localhost:{port}/{name}",
        "ftp://127.0.0.1:{port}/{name}",
        "",
    ],
)
async def test_certificate_from_a_disallowed_url_is_never_fetched(
    fake: FakeSns, signer: SnsSigner, cert_url: str
) -> None:
    good = fake.cert_url(signer)
    port, name = good.rsplit(":", 1)[1].split("/", 1)
    url = cert_url.format(port=port, name=name)
    message = notification(signer, url, alarm_message())
    error = await refused(message)
    assert (error.status, error.code) == (401, "INVALID_SIGNATURE")
    assert fake.fetched == []


async def test_http_certificate_url_refused_unless_allowed(
    fake: FakeSns, signer: SnsSigner
) -> None:
    message = notification(signer, fake.cert_url(signer), alarm_message())
    strict = Settings(sns_host_pattern=r"^127\.0\.0\.1$")
    assert (await refused(message, strict)).status == 401
    assert fake.fetched == []


async def test_subscription_is_confirmed(fake: FakeSns, signer: SnsSigner) -> None:
    message = confirmation(signer, fake.cert_url(signer), fake.subscribe_url("tok-123"), "tok-123")
    assert await sns.receive(NO_HEADERS, message, LOCAL) is None
    assert fake.confirmed == ["tok-123"]


async def test_forged_confirmation_is_not_followed(fake: FakeSns, signer: SnsSigner) -> None:
    message = confirmation(signer, fake.cert_url(signer), fake.subscribe_url("tok-1"), "tok-1")
    message["SubscribeURL"] = fake.subscribe_url("tok-evil")
    assert (await refused(message)).status == 401
    assert fake.confirmed == []


async def test_subscribe_url_on_a_disallowed_host_is_not_followed(
    fake: FakeSns, signer: SnsSigner
) -> None:
    url = fake.subscribe_url("tok-2").replace("127.0.0.1", "localhost")
    message = confirmation(signer, fake.cert_url(signer), url, "tok-2")
    error = await refused(message)
    assert (error.status, error.code) == (400, "INVALID_PAYLOAD")
    assert fake.confirmed == []


async def test_unsubscribe_confirmation_is_nothing_to_do(fake: FakeSns, signer: SnsSigner) -> None:
    message = confirmation(
        signer,
        fake.cert_url(signer),
        fake.subscribe_url("tok-3"),
        "tok-3",
        kind="UnsubscribeConfirmation",
    )
    assert await sns.receive(NO_HEADERS, message, LOCAL) is None
    assert fake.confirmed == []


async def test_unreachable_certificate_is_503(fake: FakeSns, signer: SnsSigner) -> None:
    message = notification(signer, f"{fake.base_url}/SimpleNotificationService-x.pem", "{}")
    error = await refused(message)
    assert (error.status, error.code) == (503, "SNS_UNAVAILABLE")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"SignatureVersion": "3"}, 401),
        ({"Signature": "not base64!"}, 401),
        ({"Signature": ""}, 401),
        ({"Type": "Gossip"}, 400),
        ({"Message": None}, 400),
        ({"MessageId": 5}, 400),
    ],
)
async def test_malformed_messages_are_refused(
    fake: FakeSns, signer: SnsSigner, change: dict[str, object], status: int
) -> None:
    message = notification(signer, fake.cert_url(signer), alarm_message())
    assert (await refused({**message, **change})).status == status
    assert fake.fetched == []


async def test_body_must_be_an_object() -> None:
    assert (await refused(["Notification"])).status == 400


async def test_type_header_must_match(fake: FakeSns, signer: SnsSigner) -> None:
    message = notification(signer, fake.cert_url(signer), alarm_message())
    with pytest.raises(ApiError) as err:
        await sns.receive({"x-amz-sns-message-type": "SubscriptionConfirmation"}, message, LOCAL)
    assert err.value.status == 400


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
        ("https://SNS.US-EAST-1.AMAZONAWS.COM/x.pem", True),
        ("http://sns.us-east-1.amazonaws.com/x.pem", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/x.pem", False),
        ("https://sns.us-east-1.amazonaws.com@evil.example/x.pem", False),
        ("https://user@sns.us-east-1.amazonaws.com/x.pem", False),
        ("https://evil.example/?u=https://sns.us-east-1.amazonaws.com/", False),
        ("https://s3.amazonaws.com/x.pem", False),
        ("https://[::1/x.pem", False),
        (None, False),
    ],
)
def test_default_allowed_urls(url: object, allowed: bool) -> None:
    assert sns.allowed_url(url, Settings()) is allowed
