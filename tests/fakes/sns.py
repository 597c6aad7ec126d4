"""Amazon SNS at the wire, for tests: a signer with its own RSA key and self-signed
certificate that builds and signs messages exactly as SNS does, and a real HTTP server
(aiohttp) serving the certificate and answering SubscribeURL GETs.

The string to sign is written here from AWS's documentation ("Verifying the signatures of
Amazon SNS messages"), independently of web/sns.py, so the verifier is checked against it.
"""

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:cloudwatch-alarms"
NOTIFICATION_KEYS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION_KEYS = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn"]


class SnsSigner:
    """One signing key and its certificate (SNS's are per region and rotated)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: dict[str, Any]) -> dict[str, Any]:
        """Set ``Signature`` over the message's string to sign, per its SignatureVersion."""
        keys = (
            NOTIFICATION_KEYS if message["Type"] == "Notification" else [*CONFIRMATION_KEYS, "Type"]
        )
        text = "".join(f"{k}\n{message[k]}\n" for k in keys if message.get(k) is not None)
        algorithm = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode()}


def notification(
    signer: SnsSigner,
    cert_url: str,
    message: str,
    *,
    subject: str | None = 'ALARM: "HighCPU" in EU (Ireland)',
    version: str = "1",
    topic_arn: str = TOPIC_ARN,
    timestamp: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": message,
        "Timestamp": timestamp or _now(),
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }
    if subject is not None:
        body["Subject"] = subject
    return signer.sign(body)


def confirmation(
    signer: SnsSigner,
    cert_url: str,
    subscribe_url: str,
    token: str,
    *,
    kind: str = "SubscriptionConfirmation",
    version: str = "2",
) -> dict[str, Any]:
    return signer.sign(
        {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": TOPIC_ARN,
            "Message": f"You have chosen to subscribe to the topic {TOPIC_ARN}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": subscribe_url,
            "Timestamp": _now(),
            "SignatureVersion": version,
            "SigningCertURL": cert_url,
        }
    )


def alarm(
    name: str = "HighCPU",
    state: str = "ALARM",
    *,
    region: str = "eu-west-1",
    account: str = "123456789012",
    description: str | None = "CPU above 80% on the web tier",
    **extra: Any,
) -> dict[str, Any]:
    """A CloudWatch alarm state change as an alarm action publishes it to SNS."""
    body = {
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": "2024-06-01T10:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [93.5 "
        "(10/06/24 06:12:00)] was greater than the threshold (80.0) "
        "(minimum 1 datapoint for OK -> ALARM transition).",
        "StateChangeTime": "2024-06-10T06:13:20.123+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
        "OldStateValue": "OK" if state == "ALARM" else "ALARM",
        "OKActions": [],
        "AlarmActions": [TOPIC_ARN],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/EC2",
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": None,
            "Dimensions": [{"value": "i-0abc123def4567890", "name": "InstanceId"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 80.0,
            "TreatMissingData": "missing",
        },
    }
    body.update(extra)
    return body


def alarm_message(*args: Any, **kwargs: Any) -> str:
    return json.dumps(alarm(*args, **kwargs))


class FakeSns:
    """Serves certificates and records what was fetched and confirmed."""

    def __init__(self) -> None:
        self.base_url = ""
        self._pems: dict[str, bytes] = {}
        self.fetched: list[str] = []
        self.confirmed: list[str] = []

    def cert_url(self, signer: SnsSigner) -> str:
        name = f"SimpleNotificationService-{uuid.uuid4().hex}.pem"
        self._pems[name] = signer.pem
        return f"{self.base_url}/{name}"

    def subscribe_url(self, token: str) -> str:
        return f"{self.base_url}/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token={token}"

    async def certificate(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.fetched.append(name)
        pem = self._pems.get(name)
        if pem is None:
            return web.Response(status=404)
        return web.Response(body=pem, content_type="application/x-pem-file")

    async def action(self, request: web.Request) -> web.Response:
        if request.query.get("Action") != "ConfirmSubscription":
            return web.Response(status=400)
        self.confirmed.append(request.query.get("Token", ""))
        return web.Response(
            text="<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>"
            f"{TOPIC_ARN}:{uuid.uuid4()}</SubscriptionArn></ConfirmSubscriptionResult>"
            "</ConfirmSubscriptionResponse>",
            content_type="text/xml",
        )

    def fetches_of(self, cert_url: str) -> int:
        return self.fetched.count(cert_url.rsplit("/", 1)[1])


@asynccontextmanager
async def running_fake_sns() -> AsyncIterator[FakeSns]:
    fake = FakeSns()
    app = web.Application()
    app.router.add_get("/", fake.action)
    app.router.add_get("/{name}", fake.certificate)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
