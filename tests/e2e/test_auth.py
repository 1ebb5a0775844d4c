"""End-to-end: SMTP AUTH (RFC 4954) on the submission listeners with real
clients: Python's smtplib (login(), and auth() with PLAIN, LOGIN and a
SCRAM-SHA-256 client written here from RFC 5802) and swaks --auth.

Covers: each mechanism right and wrong, an unknown user under SCRAM,
MAIL before AUTH (530), a spoofed envelope sender and From: (553 5.7.1),
Date:/Message-ID: added to submitted mail, mail to any domain once
authenticated, no copy in Sent, three failures closing the connection and
the throttle's delay on the next attempt.
"""
import base64
import hashlib
import hmac
import os
import re
import smtplib
import socket
import ssl
import struct
import subprocess
import time

import pytest

from conftest import free_port

PASSWORD = "correct horse"


def tls_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def sub_server(make_server):
    s = make_server()
    s.submission_port = free_port()
    s.submissions_port = free_port()
    s.set_listen("submission", "127.0.0.1:%d" % s.submission_port)
    s.set_listen("submissions", "127.0.0.1:%d" % s.submissions_port)
    s.add_user("alice@local.test", PASSWORD)
    s.add_user("bob@local.test", "bobs password")
    s.add_alias("sales@local.test", "alice@local.test")
    return s.start()


def connect(s, implicit):
    if implicit:
        c = smtplib.SMTP_SSL("127.0.0.1", s.submissions_port,
                             context=tls_ctx(), timeout=30)
        c.ehlo("client.test")
        return c
    c = smtplib.SMTP("127.0.0.1", s.submission_port, timeout=30)
    c.ehlo("client.test")
    c.starttls(context=tls_ctx())
    c.ehlo("client.test")
    return c


class Scram:
    """A SCRAM-SHA-256 client (RFC 5802 section 3) as a smtplib authobject.

    It checks the server's signature, so a wrong server-final fails."""

    def __init__(self, user, password, gs2="n,,", cbdata=b""):
        self.user = user
        self.password = password.encode()
        self.cnonce = base64.b64encode(os.urandom(18)).decode()
        self.verified = False
        self.gs2 = gs2
        self.cbind = base64.b64encode(gs2.encode() + cbdata).decode()

    def __call__(self, challenge=None):
        if challenge is None:
            self.first_bare = "n=%s,r=%s" % (
                self.user.replace("=", "=3D").replace(",", "=2C"),
                self.cnonce)
            return self.gs2 + self.first_bare
        text = challenge.decode()
        if text.startswith("r="):
            attrs = dict(a.split("=", 1) for a in text.split(","))
            assert attrs["r"].startswith(self.cnonce)
            salt = base64.b64decode(attrs["s"])
            salted = hashlib.pbkdf2_hmac("sha256", self.password, salt,
                                         int(attrs["i"]))
            ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            stored = hashlib.sha256(ckey).digest()
            without = "c=%s,r=%s" % (self.cbind, attrs["r"])
            self.auth_msg = ",".join((self.first_bare, text, without))
            sig = hmac.new(stored, self.auth_msg.encode(),
                           hashlib.sha256).digest()
            proof = bytes(a ^ b for a, b in zip(ckey, sig))
            skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            self.want_v = base64.b64encode(hmac.new(
                skey, self.auth_msg.encode(), hashlib.sha256).digest())
            return without + ",p=" + base64.b64encode(proof).decode()
        if text.startswith("v="):
            assert text[2:].encode() == self.want_v, "bad server signature"
            self.verified = True
            return ""
        raise AssertionError("unexpected challenge %r" % text)


def send(c, sender, rcpts, body):
    return c.sendmail(sender, rcpts, body)


def test_ehlo_offers_auth_after_starttls_only_there(sub_server):
    s = sub_server
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=30) as c:
        c.ehlo("client.test")
        # port 25 is for other MTAs: no AUTH there
        assert not c.has_extn("auth")
    for implicit in (False, True):
        with connect(s, implicit) as c:
            assert c.has_extn("auth")
            mechs = c.esmtp_features["auth"].split()
            # strongest first; -PLUS when the TLS layer gives a binding
            assert mechs[-3:] == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
            assert mechs[:-3] in ([], ["SCRAM-SHA-256-PLUS"])


def test_login_587_sends_anywhere_adds_fields(sub_server):
    s = sub_server
    with connect(s, implicit=False) as c:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.mail("alice@local.test")
            c.sendmail("alice@local.test", ["bob@local.test"], b"x\r\n")
        assert e.value.smtp_code == 530
        c.rset()
        code, resp = c.login("alice@local.test", PASSWORD)
        assert code == 235
        refused = c.sendmail(
            "alice@local.test",
            ["bob@local.test", "someone@elsewhere.example"],
            b"From: Alice <alice@local.test>\r\n"
            b"To: Bob <bob@local.test>\r\n"
            b"Subject: submitted\r\n\r\nhello from 587\r\n")
        assert refused == {}
    assert s.wait_count("bob@local.test", 1) == 1
    msg = s.messages("bob@local.test")[0]
    head = msg.split(b"\r\n\r\n", 1)[0]
    assert re.search(rb"with ESMTPSA", head)
    assert re.search(rb"\r\nDate: \w\w\w, ", head)
    assert re.search(rb"\r\nMessage-ID: <[0-9a-f]{32}@mail\.local\.test>",
                     head)
    # the client's own headers kept, once each
    assert head.count(b"Subject: submitted") == 1
    # no copy in the sender's Sent mailbox
    assert s.mailbox_counts("alice@local.test").get("Sent", 0) == 0


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
def test_each_mechanism_465(sub_server, mech):
    s = sub_server
    with connect(s, implicit=True) as c:
        c.user, c.password = "alice@local.test", PASSWORD
        if mech == "PLAIN":
            code, _ = c.auth("PLAIN", c.auth_plain)
        elif mech == "LOGIN":
            code, _ = c.auth("LOGIN", c.auth_login,
                             initial_response_ok=False)
        else:
            scram = Scram("alice@local.test", PASSWORD)
            code, _ = c.auth("SCRAM-SHA-256", scram)
            assert scram.verified
        assert code == 235
        c.sendmail("alice@local.test", ["bob@local.test"],
                   b"From: Alice <alice@local.test>\r\n"
                   b"Date: Sun, 22 Nov 2026 08:00:00 +0000\r\n"
                   b"Message-ID: <fixed-%s@client.test>\r\n"
                   b"Subject: via %s\r\n\r\nbody\r\n" % (mech.encode(),
                                                        mech.encode()))
    assert s.wait_count("bob@local.test", 1) == 1
    msg = s.messages("bob@local.test")[0]
    # the client's Date and Message-ID are kept, nothing added
    assert msg.count(b"\r\nMessage-ID: ") == 1
    assert b"Message-ID: <fixed-%s@client.test>" % mech.encode() in msg
    assert msg.count(b"\r\nDate: ") == 1


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
def test_wrong_password_535(sub_server, mech):
    s = sub_server
    with connect(s, implicit=True) as c:
        c.user, c.password = "alice@local.test", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            if mech == "PLAIN":
                c.auth("PLAIN", c.auth_plain)
            elif mech == "LOGIN":
                c.auth("LOGIN", c.auth_login, initial_response_ok=False)
            else:
                c.auth("SCRAM-SHA-256", Scram("alice@local.test", "wrong"))
        assert e.value.smtp_code == 535
        assert b"5.7.8" in e.value.smtp_error
    assert re.search(r"smtp auth sid=\S+ peer=127\.0\.0\.1 mech=%s "
                     r"user=\"alice@local\.test\" result=fail" % mech,
                     s.read_log())


def test_scram_unknown_user_looks_like_wrong_password(sub_server):
    s = sub_server
    salts = []
    for _ in range(2):
        with connect(s, implicit=True) as c:
            scram = Scram("nobody@local.test", "x")
            seen = []

            def obj(challenge=None, scram=scram, seen=seen):
                if challenge is not None and challenge.startswith(b"r="):
                    seen.append(challenge)
                return scram(challenge)
            with pytest.raises(smtplib.SMTPAuthenticationError) as e:
                c.auth("SCRAM-SHA-256", obj)
            assert e.value.smtp_code == 535
            attrs = dict(a.split(b"=", 1) for a in seen[0].split(b","))
            assert attrs[b"i"] == b"4096"
            assert len(base64.b64decode(attrs[b"s"])) == 16
            salts.append(attrs[b"s"])
    # the fake salt is stable, as a real one would be
    assert salts[0] == salts[1]


def test_spoofed_sender_and_from_553(sub_server):
    s = sub_server
    with connect(s, implicit=True) as c:
        c.login("alice@local.test", PASSWORD)
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail("bob@local.test", ["bob@local.test"], b"x\r\n")
        assert e.value.smtp_code == 553
        assert b"5.7.1" in e.value.smtp_error
        c.rset()
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("alice@local.test", ["bob@local.test"],
                       b"From: The Boss <bob@local.test>\r\n"
                       b"Subject: pay this\r\n\r\nnow\r\n")
        assert e.value.smtp_code == 553
        # the session goes on: a proper message still works
        c.sendmail("alice@local.test", ["bob@local.test"],
                   b"From: alice@local.test\r\nSubject: ok\r\n\r\nfine\r\n")
    assert s.wait_count("bob@local.test", 1) == 1
    time.sleep(0.3)
    assert s.mailbox_counts("bob@local.test").get("INBOX") == 1
    assert b"Subject: ok" in s.messages("bob@local.test")[0]
    assert "smtp spoof" in s.read_log()


def test_alias_as_sender(sub_server):
    s = sub_server
    s.add_alias("team@local.test", "alice@local.test", "bob@local.test")
    with connect(s, implicit=True) as c:
        c.login("alice@local.test", PASSWORD)
        # a direct alias of the account: envelope and From: accepted
        c.sendmail("Sales@Local.Test", ["bob@local.test"],
                   b"From: Sales <sales@local.test>\r\n"
                   b"Subject: from the alias\r\n\r\nhi\r\n")
        # a list alice is only one member of: refused
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail("team@local.test", ["bob@local.test"], b"x\r\n")
        assert e.value.smtp_code == 553
        c.rset()
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("sales@local.test", ["bob@local.test"],
                       b"From: The Team <team@local.test>\r\n\r\nx\r\n")
        assert e.value.smtp_code == 553
    assert s.wait_count("bob@local.test", 1) == 1
    assert b"Subject: from the alias" in s.messages("bob@local.test")[0]


def test_three_failures_close_then_throttle_delays(sub_server):
    s = sub_server
    c = connect(s, implicit=True)
    c.user, c.password = "alice@local.test", "wrong"
    for i in range(3):
        with pytest.raises((smtplib.SMTPAuthenticationError,
                            smtplib.SMTPServerDisconnected)):
            c.auth("PLAIN", c.auth_plain)
    # the third failure ended the connection with 421 (already sent, so
    # smtplib reads it as the answer to the next command)
    try:
        code, msg = c.noop()
    except smtplib.SMTPServerDisconnected:
        code, msg = 421, b"(closed)"
    assert code == 421, msg
    c.close()
    assert "smtp auth-limit" in s.read_log()
    # the address has 3 failures now: the next attempt is answered late,
    # even with the right password
    with connect(s, implicit=True) as c:
        t0 = time.monotonic()
        code, _ = c.login("alice@local.test", PASSWORD)
        elapsed = time.monotonic() - t0
        assert code == 235
        assert elapsed >= 0.9, elapsed


def run(argv):
    return subprocess.run(argv, capture_output=True, timeout=60)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_auth(sub_server, mech):
    s = sub_server
    p = run(["swaks", "--server", "127.0.0.1", "--port",
             str(s.submission_port), "--tls", "--auth", mech,
             "--auth-user", "alice@local.test", "--auth-password", PASSWORD,
             "--from", "alice@local.test", "--to", "bob@local.test",
             "--helo", "client.test",
             "--header", "From: alice@local.test",
             "--body", "swaks with %s" % mech])
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out + p.stderr.decode(errors="replace")
    assert "235 2.7.0 Authentication successful" in out
    assert s.wait_count("bob@local.test", 1) == 1
    assert b"swaks with %s" % mech.encode() in s.messages("bob@local.test")[0]
    # a wrong password: swaks reports the 535 and fails
    p = run(["swaks", "--server", "127.0.0.1", "--port",
             str(s.submissions_port), "--tlsc", "--auth", mech,
             "--auth-user", "alice@local.test", "--auth-password", "nope",
             "--from", "alice@local.test", "--to", "bob@local.test",
             "--helo", "client.test"])
    assert p.returncode != 0
    assert "535 5.7.8" in p.stdout.decode(errors="replace")


class TlsLines:
    """SMTP over implicit TLS with pyOpenSSL, which (unlike the ssl module)
    exports keying material: the tls-exporter channel binding (RFC 9266)."""

    def __init__(self, port):
        from OpenSSL import SSL
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
        sock = socket.create_connection(("127.0.0.1", port), 10)
        sock.setblocking(True)
        # a receive timeout, so a missing answer fails instead of hanging
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                        struct.pack("ll", 10, 0))
        self.conn = SSL.Connection(ctx, sock)
        self.conn.set_connect_state()
        self.conn.do_handshake()
        self.buf = b""

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                self.buf += self.conn.recv(4096)
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if line[3:4] == b" ":
                return int(line[:3]), lines

    def cmd(self, text):
        self.conn.sendall(text.encode() + b"\r\n")
        return self.reply()

    def exporter(self):
        return self.conn.export_keying_material(b"EXPORTER-Channel-Binding",
                                                32)


@pytest.mark.parametrize("tamper", [False, True])
def test_scram_plus_tls_exporter_465(sub_server, tamper):
    s = sub_server
    t = TlsLines(s.submissions_port)
    assert t.reply()[0] == 220
    code, lines = t.cmd("EHLO client.test")
    assert code == 250
    assert "AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN" in lines[-1]
    cb = t.exporter()
    if tamper:
        # a man in the middle sees another channel: other binding data
        cb = bytes([cb[0] ^ 1]) + cb[1:]
    scram = Scram("alice@local.test", PASSWORD, gs2="p=tls-exporter,,",
                  cbdata=cb)
    first = base64.b64encode(scram().encode()).decode()
    code, lines = t.cmd("AUTH SCRAM-SHA-256-PLUS " + first)
    assert code == 334
    final = scram(base64.b64decode(lines[0][4:]))
    code, lines = t.cmd(base64.b64encode(final.encode()).decode())
    if tamper:
        assert code == 535, lines
        return
    assert code == 334, lines
    assert scram(base64.b64decode(lines[0][4:])) == ""
    assert scram.verified
    code, lines = t.cmd("")
    assert code == 235, lines
    assert t.cmd("MAIL FROM:<alice@local.test>")[0] == 250
    assert t.cmd("QUIT")[0] == 221
