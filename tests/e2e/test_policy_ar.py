"""End-to-end: Authentication-Results claiming our hostname are removed
from every message that enters (RFC 8601 section 5), also on the paths
that stream the message to the queue without checking it (clients in
[policy] trusted_networks, submission after AUTH), and mail from an
authenticated user carries "Authentication-Results: HOST; auth=pass
smtp.auth=USER" (RFC 8601 section 2.7.6).

The checked path (an untrusted client on the smtp listener, with DNS) is
in test_policy.py.
"""
import hashlib
import re
import smtplib
import socket
import ssl
import time

import pytest

from conftest import free_port

HOST = "mail.local.test"
PW = "secret-pw"

# two forgeries of ours (folded, odd case, blank before the colon, a
# comment before the id, a trailing dot) and one of another host
FORGED = [
    "Authentication-Results: mail.local.test; spf=pass smtp.mailfrom=x@evil.test;",
    "\tdkim=pass header.d=evil.test",
    "authentication-results :",
    "\t(looks (nested)) MAIL.LOCAL.TEST.; dmarc=pass header.from=evil.test",
    "Authentication-Results: other.example; dkim=pass header.d=other.example",
]


def message(subject, extra=(), body=None):
    lines = ["From: <alice@local.test>", "To: <bob@local.test>",
             "Subject: %s" % subject,
             "Date: Sun, 22 Nov 2026 10:00:00 +0000",
             "Message-ID: <%s.%d@local.test>" % (re.sub(r"\W", "", subject),
                                                 int(time.time() * 1e6))]
    lines += list(extra)
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head + (body if body is not None else b"hello\r\nsecond line\r\n")


def header_block(raw):
    return raw.split(b"\r\n\r\n", 1)[0]


def fields(raw, name):
    out = []
    for m in re.finditer(rb"(?im)^" + name.encode() +
                         rb"[ \t]*:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)",
                         header_block(raw)):
        out.append(re.sub(rb"\r\n[ \t]", b" ", m.group(1)).strip().decode())
    return out


def names(raw):
    """Field names in order, without what local delivery puts on top."""
    return [n for n in (l.split(b":")[0].strip().lower()
                        for l in header_block(raw).split(b"\r\n")
                        if l and l[:1] not in (b" ", b"\t"))
            if n not in (b"return-path", b"delivered-to")]


def tls_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def removed_logged(s, n):
    return re.search(r"smtp policy sid=\S+ qid=\S+ removed=%d \(forged "
                     r"Authentication-Results\)" % n, s.read_log())


def test_trusted_client_forgeries_removed(server):
    # loopback is in the default trusted_networks: no checks, streamed
    data = message("trusted", FORGED)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as c:
        c.ehlo("client.test")
        assert c.sendmail("alice@local.test", ["bob@local.test"], data) == {}
    assert server.wait_count("bob@local.test", 1) == 1
    got = server.messages("bob@local.test")[0]
    assert fields(got, "Authentication-Results") == [
        "other.example; dkim=pass header.d=other.example"]
    assert b"evil.test" not in got
    # nothing added for an unauthenticated client, the rest untouched
    assert got.endswith(b"\r\n\r\nhello\r\nsecond line\r\n")
    assert b"Subject: trusted\r\n" in got
    assert removed_logged(server, 2), server.read_log()[-2000:]


def test_trusted_client_no_empty_line_and_long_fields(server):
    # a message that is all header, ending on a forgery of ours
    data = (b"From: <alice@local.test>\r\nSubject: no body\r\n"
            b"Authentication-Results: mail.local.test; spf=pass\r\n")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as c:
        c.ehlo("client.test")
        assert c.sendmail("alice@local.test", ["bob@local.test"], data) == {}
    assert server.wait_count("bob@local.test", 1) == 1
    got = server.messages("bob@local.test")[0]
    assert b"Subject: no body\r\n" in got
    assert b"Authentication-Results" not in got
    # folded fields past the 64 KiB the filter holds: a long foreign
    # X- field passes whole, a long A-R goes whatever its id (a comment
    # that long could hide ours)
    fold = "\r\n\t" + "y" * 900
    xlong = "X-Long: start" + fold * 80
    arlong = "Authentication-Results: (" + fold * 80 + ") other.example; x=y"
    data = message("long fields", [xlong, arlong, FORGED[4]])
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as c:
        c.ehlo("client.test")
        assert c.sendmail("alice@local.test", ["bob@local.test"], data) == {}
    assert server.wait_count("bob@local.test", 2) == 2
    got = server.messages("bob@local.test")[1]
    assert (xlong + "\r\n").encode() in got
    assert fields(got, "Authentication-Results") == [
        "other.example; dkim=pass header.d=other.example"]
    assert removed_logged(server, 1)


def test_trusted_client_header_in_small_pieces(server):
    """The header arrives in 3-byte writes: the filter sees fields split
    across reads (the unit test splits at every offset)."""
    data = message("pieces", FORGED)
    head, body = data.split(b"\r\n\r\n", 1)
    with socket.create_connection(("127.0.0.1", server.smtp_port), 30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")

        def reply():
            while True:
                line = f.readline()
                if line[3:4] != b"-":
                    return line

        assert reply().startswith(b"220")
        for cmd in (b"EHLO client.test", b"MAIL FROM:<alice@local.test>",
                    b"RCPT TO:<bob@local.test>", b"DATA"):
            s.sendall(cmd + b"\r\n")
            r = reply()
            assert r[:1] in (b"2", b"3"), (cmd, r)
        for i in range(0, len(head), 3):
            s.sendall(head[i:i + 3])
            time.sleep(0.002)
        s.sendall(b"\r\n\r\n" + body + b".\r\n")
        assert reply().startswith(b"250")
        s.sendall(b"QUIT\r\n")
        reply()
    assert server.wait_count("bob@local.test", 1) == 1
    got = server.messages("bob@local.test")[0]
    assert fields(got, "Authentication-Results") == [
        "other.example; dkim=pass header.d=other.example"]
    assert b"evil.test" not in got
    assert removed_logged(server, 2)


def test_trusted_client_big_message_streams(server):
    # 8 MB: streamed to the queue, never held (no spill, no hold)
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\r\n"
    body = line * (8 * 1024 * 1024 // len(line))
    data = message("big", FORGED, body)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as c:
        c.ehlo("client.test")
        assert c.sendmail("alice@local.test", ["bob@local.test"], data) == {}
    assert server.wait_count("bob@local.test", 1, timeout=60) == 1
    got = server.messages("bob@local.test")[0]
    got_body = got.split(b"\r\n\r\n", 1)[1]
    assert hashlib.sha256(got_body).digest() == hashlib.sha256(body).digest()
    assert b"evil.test" not in header_block(got)
    assert removed_logged(server, 2)
    assert "hold-spilled" not in server.read_log()


@pytest.fixture(params=["sign", "nosign"])
def sub(make_server, request):
    s = make_server()
    s.submission_port = free_port()
    s.set_listen("submission", "127.0.0.1:%d" % s.submission_port)
    s.set_option("dkim", "sign", "yes" if request.param == "sign" else "no")
    s.sign = request.param == "sign"
    s.add_user("alice@local.test", PW)
    s.add_user("bob@local.test", PW)
    if s.sign:
        s.cli("dkim", "keygen", "--selector", "k1", "local.test")
    return s.start()


def submit(s, data):
    with smtplib.SMTP("127.0.0.1", s.submission_port, timeout=60) as c:
        c.ehlo("client.test")
        c.starttls(context=tls_ctx())
        c.ehlo("client.test")
        c.login("alice@local.test", PW)
        assert c.sendmail("alice@local.test", ["bob@local.test"], data) == {}


def test_submission_forgeries_removed_and_auth_results(sub):
    submit(sub, message("submitted", FORGED))
    assert sub.wait_count("bob@local.test", 1) == 1
    got = sub.messages("bob@local.test")[0]
    ar = fields(got, "Authentication-Results")
    assert ar == ["%s; auth=pass smtp.auth=alice@local.test" % HOST,
                  "other.example; dkim=pass header.d=other.example"], ar
    assert b"evil.test" not in got
    assert removed_logged(sub, 2), sub.read_log()[-2000:]
    n = names(got)
    # ours on top of the trace fields (below the signature, if any)
    if sub.sign:
        assert n[0] == b"dkim-signature", n
        assert n[1] == b"authentication-results", n
        sig = fields(got, "DKIM-Signature")[0]
        assert "d=local.test" in sig and "s=k1" in sig
        # the A-R field is not signed (it is added after signing)
        h = re.search(r"h=([^;]*)", sig).group(1).replace(" ", "").lower()
        assert "authentication-results" not in h
        assert "smtp dkim-signed" in sub.read_log()
    else:
        assert n[0] == b"authentication-results", n
        assert b"DKIM-Signature" not in header_block(got)
    assert n.index(b"authentication-results") < n.index(b"received")
    assert got.endswith(b"\r\n\r\nhello\r\nsecond line\r\n")


def test_submission_big_message(sub, make_server):
    # 3 MB: past [policy] hold_memory (1M) a signed submission spills to
    # a file; unsigned it streams
    line = b"The quick brown fox jumps over the lazy dog 0123456789\r\n"
    body = line * (3 * 1024 * 1024 // len(line))
    submit(sub, message("big submission", FORGED[:2], body))
    assert sub.wait_count("bob@local.test", 1, timeout=60) == 1
    got = sub.messages("bob@local.test")[0]
    assert got.split(b"\r\n\r\n", 1)[1] == body
    assert fields(got, "Authentication-Results") == [
        "%s; auth=pass smtp.auth=alice@local.test" % HOST]
    assert removed_logged(sub, 1)
    log = sub.read_log()
    if sub.sign:
        assert re.search(r"smtp hold-spilled sid=\S+ qid=\S+ bytes=", log), \
            log[-2000:]
        assert "smtp dkim-signed" in log
    else:
        assert "hold-spilled" not in log
