"""Bounces read back by another implementation: Python's email package.

The C unit test src/delivery/dsn_test.c writes a few notifications made by
dsn_build() into $DSN_TEST_OUT; this test parses them with
email.message_from_bytes(policy=email.policy.default) and checks that they
are multipart/report delivery-status notifications (RFC 3464, RFC 6522)
with the right fields per recipient. The inputs are those of
test_write_samples() in dsn_test.c.
"""
import email
import email.policy
import os
import subprocess

import pytest

from conftest import ROOT

DSN_TEST = os.path.join(ROOT, "build", "asan", "tests", "delivery", "dsn_test")


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("dsn")
    subprocess.run(["make", "-s", "-C", ROOT, "build/asan/tests/delivery/dsn_test"],
                   check=True, capture_output=True, timeout=600)
    env = dict(os.environ, DSN_TEST_OUT=str(out))
    p = subprocess.run([DSN_TEST], env=env, capture_output=True, timeout=120,
                       cwd=ROOT)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    msgs = {}
    for name in ("failed", "delayed", "utf8", "full"):
        with open(os.path.join(str(out), name + ".eml"), "rb") as f:
            raw = f.read()
        msgs[name] = (raw, email.message_from_bytes(raw, policy=email.policy.default))
    return msgs


def report_parts(msg):
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    assert len(parts) == 3
    return parts


def status_blocks(part):
    assert part.get_content_type() == "message/delivery-status"
    blocks = part.get_payload()
    # Python parses each header block into its own sub-message
    assert isinstance(blocks, list)
    return [dict(b.items()) for b in blocks if len(b.keys()) > 0]


def test_failed_two_recipients(samples):
    raw, msg = samples["failed"]
    assert not msg.defects
    assert msg["From"].addresses[0].addr_spec == "MAILER-DAEMON@mail.example.test"
    assert msg["From"].addresses[0].display_name == "Mail Delivery System"
    assert msg["To"].addresses[0].addr_spec == "alice@example.test"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Message-ID"].endswith("@mail.example.test>")
    assert msg["Date"].datetime is not None
    text, status, headers = report_parts(msg)

    assert text.get_content_type() == "text/plain"
    body = text.get_content()
    assert "<bob@example.org>: failed" in body
    assert "550 5.1.1 No such user here" in body

    blocks = status_blocks(status)
    assert len(blocks) == 3
    per_msg, bob, carol = blocks
    assert per_msg["Reporting-MTA"] == "dns; mail.example.test"
    assert per_msg["X-Postino-Queue-ID"] == "0123456789abcdef"
    assert "Arrival-Date" in per_msg
    assert bob["Final-Recipient"] == "rfc822; bob@example.org"
    assert "Original-Recipient" not in bob
    assert bob["Action"] == "failed"
    assert bob["Status"] == "5.1.1"
    assert bob["Remote-MTA"] == "dns; mx.example.org"
    assert bob["Diagnostic-Code"] == "smtp; 550 5.1.1 No such user here"
    assert "Last-Attempt-Date" in bob
    assert "Will-Retry-Until" not in bob
    assert carol["Original-Recipient"] == "rfc822; team@example.test"
    assert carol["Final-Recipient"] == "rfc822; carol@example.net"
    assert carol["Status"] == "5.2.2"
    assert carol["Diagnostic-Code"] == "smtp; 552 Mailbox full"

    assert headers.get_content_type() == "text/rfc822-headers"
    h = headers.get_content()
    assert "Subject: Lunch on Friday?" in h
    assert "Message-ID: <lunch-1@example.test>" in h
    assert "Shall we meet" not in h   # the header only, not the body
    # the returned header lines are the original's bytes
    assert (b"From: Alice <alice@example.test>\r\nTo: bob@example.org, "
            b"carol@example.net\r\n") in raw


def test_delayed(samples):
    _, msg = samples["delayed"]
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    _, status, _ = report_parts(msg)
    blocks = status_blocks(status)
    assert len(blocks) == 2
    dave = blocks[1]
    assert dave["Final-Recipient"] == "rfc822; dave@example.org"
    assert dave["Action"] == "delayed"
    assert dave["Status"] == "4.7.1"
    assert dave["Diagnostic-Code"] == "smtp; 451 4.7.1 Greylisted, try again"
    assert "Will-Retry-Until" in dave
    assert "Last-Attempt-Date" in dave


def test_utf8_addresses(samples):
    raw, msg = samples["utf8"]
    # the sender's address as UTF-8 in To: (RFC 6532)
    assert "To: <j\u00f6ran@example.test>".encode() in raw
    # (the bytes parser keeps 8-bit header bytes as surrogate escapes)
    to = msg["To"].addresses[0].addr_spec
    assert to.encode("utf-8", "surrogateescape").decode() == "j\u00f6ran@example.test"
    text, status, _ = report_parts(msg)
    assert "<b\u00fccher@example.org>: failed" in text.get_content()
    blocks = status_blocks(status)
    # RFC 6533 utf-8 address type, 7-bit form
    assert blocks[1]["Final-Recipient"] == "utf-8; b\\x{FC}cher@example.org"
    assert blocks[0]["X-Postino-Sender"] == "utf-8; j\\x{F6}ran@example.test"
    # the machine-readable part stays ASCII
    start = raw.index(b"message/delivery-status")
    end = raw.index(b"text/rfc822-headers")
    assert all(c < 0x80 for c in raw[start:end])


def test_return_full(samples):
    raw, msg = samples["full"]
    _, status, returned = report_parts(msg)
    assert len(status_blocks(status)) == 3
    assert returned.get_content_type() == "message/rfc822"
    inner = returned.get_payload()[0]
    assert inner["Subject"] == "Lunch on Friday?"
    assert inner.get_content().strip() == "Shall we meet at noon?"
    assert b"\r\n\r\nShall we meet at noon?\r\n" in raw


def test_lines_within_limits(samples):
    for name, (raw, _) in samples.items():
        assert raw.endswith(b"\r\n")
        for line in raw.split(b"\r\n"):
            assert b"\n" not in line and b"\r" not in line, name
            assert len(line) <= 998, name


def test_bounce_from_the_running_server(server):
    """A message to an unknown local user comes back to its sender as a
    notification the email package reads as a DSN."""
    p = server.cli("sendmail", "-f", "alice@local.test", "nosuch@local.test",
                   stdin=b"Subject: to nobody\nMessage-ID: <orig-1@local.test>\n\nhi\n")
    assert p.returncode == 0
    assert server.wait_count("alice@local.test", 1) == 1
    raw = server.messages("alice@local.test")[0]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Return-Path"] == "<>"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    text, status, headers = report_parts(msg)
    assert "<nosuch@local.test>: failed" in text.get_content()
    blocks = status_blocks(status)
    assert len(blocks) == 2
    assert blocks[0]["Reporting-MTA"].startswith("dns; ")
    assert blocks[1]["Final-Recipient"] == "rfc822; nosuch@local.test"
    assert blocks[1]["Action"] == "failed"
    assert blocks[1]["Status"].startswith("5.")
    assert headers.get_content_type() == "text/rfc822-headers"
    h = headers.get_content()
    assert "Message-ID: <orig-1@local.test>" in h
    assert "Subject: to nobody" in h
    # the bounce (null sender) is itself never bounced: nothing left queued
    assert "queue is empty" in server.queue_list()
