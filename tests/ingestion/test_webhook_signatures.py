"""Standard Webhooks verification and signing; the known-answer vectors; the sha256= helper."""

from __future__ import annotations

import base64

import pytest

from ingestion.errors import WebhookRejected
from ingestion.signatures import (
    REJECTION_REASONS,
    hmac_sha256_signature,
    sign,
    signed_headers,
    verify,
    verify_hmac_sha256_signature,
)

# Known-answer vector of the Standard Webhooks reference library.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()


def headers(signature: str = EXPECTED, **overrides: str) -> dict[str, str]:
    base = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": signature,
    }
    base.update(overrides)
    return base


def reason(exc: pytest.ExceptionInfo[WebhookRejected]) -> str:
    return exc.value.reason


def test_standard_webhooks_known_answer() -> None:
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == EXPECTED
    delivery = verify(headers(), BODY, [SECRET], now=TIMESTAMP)
    assert (delivery.delivery_id, delivery.timestamp) == (MSG_ID, TIMESTAMP)


def test_github_known_answer() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert hmac_sha256_signature(secret, body) == expected
    verify_hmac_sha256_signature(secret, body, expected)
    with pytest.raises(WebhookRejected) as exc:
        verify_hmac_sha256_signature(secret, body + b" ", expected)
    assert reason(exc) == "bad_signature"
    with pytest.raises(WebhookRejected) as exc:
        verify_hmac_sha256_signature(secret, body, None)
    assert reason(exc) == "missing_header"


def test_rotation_any_secret_any_signature() -> None:
    other_signature = sign(OTHER, MSG_ID, TIMESTAMP, BODY)
    # The sender signs with old and new secrets; we know only the new one, then only the old one.
    both = f"{other_signature} {EXPECTED}"
    assert verify(headers(both), BODY, [OTHER], now=TIMESTAMP).delivery_id == MSG_ID
    assert verify(headers(both), BODY, [SECRET], now=TIMESTAMP).delivery_id == MSG_ID
    # We hold two secrets while rotating; the sender uses either.
    assert verify(headers(), BODY, [OTHER, SECRET], now=TIMESTAMP).delivery_id == MSG_ID
    # Unknown signature schemes in the list are skipped, not fatal.
    assert (
        verify(headers(f"v2,abc {EXPECTED}"), BODY, [SECRET], now=TIMESTAMP).timestamp == TIMESTAMP
    )


@pytest.mark.parametrize(
    ("mutate", "expected_reason"),
    [
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing_header"),
        (lambda h, b: ({**h, "webhook-signature": " "}, b), "missing_header"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "bad_timestamp"),
        (lambda h, b: (h, b + b" "), "bad_signature"),  # body changed by one byte
        (lambda h, b: (h, b'{"test":2432232314}'), "bad_signature"),  # re-serialised JSON
        (lambda h, b: ({**h, "webhook-id": "msg_other"}, b), "bad_signature"),
        (lambda h, b: ({**h, "webhook-signature": "v1,not base64!"}, b), "bad_signature"),
        (
            lambda h, b: ({**h, "webhook-signature": EXPECTED.replace("v1,", "v1a,")}, b),
            "bad_signature",
        ),
    ],
)
def test_rejections_are_typed(mutate: object, expected_reason: str) -> None:
    hdrs, body = mutate(headers(), BODY)  # type: ignore[operator]
    with pytest.raises(WebhookRejected) as exc:
        verify(hdrs, body, [SECRET], now=TIMESTAMP)
    assert reason(exc) == expected_reason
    assert expected_reason in REJECTION_REASONS
    assert SECRET not in str(exc.value)
    assert "2432232314" not in str(exc.value)


def test_tolerance_in_the_past_and_the_future() -> None:
    assert verify(headers(), BODY, [SECRET], now=TIMESTAMP + 300).delivery_id == MSG_ID
    assert verify(headers(), BODY, [SECRET], now=TIMESTAMP - 300).delivery_id == MSG_ID
    with pytest.raises(WebhookRejected) as exc:
        verify(headers(), BODY, [SECRET], now=TIMESTAMP + 301)
    assert reason(exc) == "too_old"
    with pytest.raises(WebhookRejected) as exc:
        verify(headers(), BODY, [SECRET], now=TIMESTAMP - 301)
    assert reason(exc) == "too_new"
    with pytest.raises(WebhookRejected) as exc:
        verify(headers(), BODY, [SECRET], now=TIMESTAMP + 30, tolerance_seconds=10)
    assert reason(exc) == "too_old"


def test_secret_problems() -> None:
    with pytest.raises(WebhookRejected) as exc:
        verify(headers(), BODY, ["whsec_***not-base64***"], now=TIMESTAMP)
    assert reason(exc) == "bad_secret_format"
    with pytest.raises(WebhookRejected) as exc:
        verify(headers(), BODY, [], now=TIMESTAMP)
    assert reason(exc) == "bad_signature"
    # The prefix is optional, as in the reference library.
    assert verify(headers(), BODY, [SECRET.removeprefix("whsec_")], now=TIMESTAMP)


def test_signed_headers_round_trip() -> None:
    body = b'{"type":"message.created"}'
    hdrs = signed_headers(OTHER, "msg_1", 1_700_000_000, body)
    assert set(hdrs) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert verify(hdrs, body, [OTHER], now=1_700_000_000).delivery_id == "msg_1"
