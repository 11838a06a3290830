"""Delivery-policy schedules and message signatures."""
import base64
import hashlib
import subprocess

import rsa

from nubis.services.sns.messages import string_to_sign
from nubis.services.sns.retry import DEFAULT_HTTP_POLICY, http_delay, http_policy, managed_delay
from nubis.services.sns.signing import Signer


def test_default_http_policy_is_three_retries_twenty_seconds_apart():
    assert [http_delay(DEFAULT_HTTP_POLICY, n) for n in range(1, 5)] == [20.0, 20.0, 20.0, None]


def test_http_policy_phases_and_overrides():
    topic = '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 6, "numNoDelayRetries": 1, ' \
            '"numMinDelayRetries": 1, "numMaxDelayRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 8, ' \
            '"backoffFunction": "exponential"}}}'
    policy = http_policy(topic, None)
    delays = [http_delay(policy, n) for n in range(1, 8)]
    assert delays[0] == 0.0 and delays[1] == 1.0 and delays[-2] == 8.0 and delays[-1] is None
    assert delays[2] < delays[3] < delays[4] <= 8.0
    assert http_policy(topic, '{"healthyRetryPolicy": {"numRetries": 1}}')["numRetries"] == 1
    locked = topic.replace('"http": {', '"http": {"disableSubscriptionOverrides": true, ')
    assert http_policy(locked, '{"healthyRetryPolicy": {"numRetries": 1}}')["numRetries"] == 6


def test_aws_managed_policy():
    assert [managed_delay(n) for n in (1, 3, 4, 5)] == [0.0, 0.0, 1.0, 1.0]
    assert 1.0 <= managed_delay(6) < managed_delay(10) < managed_delay(15) == 20.0
    assert managed_delay(100_015) == 20.0 and managed_delay(100_016) is None


def test_string_to_sign_follows_the_documented_order():
    doc = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "hi", "Timestamp": "ts",
           "UnsubscribeURL": "u"}
    assert string_to_sign(doc) == b"Message\nhi\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
    doc["Subject"] = "s"
    assert b"MessageId\nm\nSubject\ns\nTimestamp" in string_to_sign(doc)
    conf = {"Type": "SubscriptionConfirmation", "MessageId": "m", "Token": "k", "TopicArn": "t", "Message": "x",
            "SubscribeURL": "url", "Timestamp": "ts"}
    assert string_to_sign(conf) == (b"Message\nx\nMessageId\nm\nSubscribeURL\nurl\nTimestamp\nts\nToken\nk\n"
                                    b"TopicArn\nt\nType\nSubscriptionConfirmation\n")


def test_signatures_verify_with_an_independent_rsa_implementation(tmp_path):
    """Checked with the pure-Python `rsa` package (an awscli dependency) against the served certificate."""
    signer = Signer(tmp_path)
    signer.load()
    der = base64.b64decode(b"".join(signer.cert_pem.splitlines()[1:-1]))
    key = rsa.PrivateKey.load_pkcs1(subprocess.run(
        ["openssl", "rsa", "-traditional"], input=(tmp_path / "sns-signing-key.pem").read_bytes(),
        capture_output=True, check=True).stdout)
    public = rsa.PublicKey(key.n, key.e)
    data = b"Message\nhello\n"
    assert rsa.verify(data, base64.b64decode(signer.sign(data, "1")), public) == "SHA-1"
    assert rsa.verify(data, base64.b64decode(signer.sign(data, "2")), public) == "SHA-256"
    # the same key and certificate are used again after a restart; the certificate carries the modulus
    again = Signer(tmp_path)
    assert again.sign(data, "1") == signer.sign(data, "1") and again.cert_pem == signer.cert_pem
    assert key.n.to_bytes(256, "big") in der
    assert signer.cert_name == f"SimpleNotificationService-{hashlib.md5(der).hexdigest()}.pem"
