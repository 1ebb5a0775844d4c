"""End-to-end: the IMAP server (imap with STARTTLS, imaps) with Python's
imaplib over plain (loopback), STARTTLS and implicit TLS: login, LIST,
SELECT, APPEND, FETCH (structure, body sections, partial), SEARCH, STORE,
COPY, MOVE, EXPUNGE; IDLE hearing of an SMTP delivery within a second;
two sessions seeing each other's changes; COMPRESS=DEFLATE (RFC 4978)
both ways, plain and over TLS; the connection limit; BYE at shutdown; bad
input over the wire (huge literals, garbage, binary) answered properly
while the server goes on serving.
"""
import imaplib
import os
import re
import select
import smtplib
import socket
import ssl
import time
import zlib

import pytest

from conftest import free_port

PW = "secret-pw"
ALICE = "alice@local.test"
BOB = "bob@local.test"


def make_msg(i, subject=None, body=None):
    subject = subject or "message %d" % i
    body = body or "Body line of message %d\r\nsecond line\r\n" % i
    return ("From: Sender <sender@remote.test>\r\n"
            "To: Alice <alice@local.test>\r\n"
            "Subject: %s\r\n"
            "Message-ID: <m%d@remote.test>\r\n"
            "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
            "\r\n%s" % (subject, i, body)).encode()


MULTIPART = (b"From: Carol <carol@remote.test>\r\n"
             b"To: alice@local.test\r\n"
             b"Subject: with attachment\r\n"
             b"Date: Tue, 3 Mar 2026 11:00:00 +0100\r\n"
             b"Message-ID: <mp1@remote.test>\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
             b"\r\n"
             b"preamble\r\n"
             b"--XX\r\n"
             b"Content-Type: text/plain; charset=us-ascii\r\n"
             b"\r\n"
             b"Hello Alice, see the attachment.\r\n"
             b"--XX\r\n"
             b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n"
             b"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
             b"\r\n"
             b"AAECAwQFBgcICQ==\r\n"
             b"--XX--\r\n")


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def setup_imap(s):
    s.imap_port = free_port()
    s.imaps_port = free_port()
    s.set_listen("imap", "127.0.0.1:%d" % s.imap_port)
    s.set_listen("imaps", "127.0.0.1:%d" % s.imaps_port)
    s.add_user(ALICE, PW)
    s.add_user(BOB, PW)
    return s


@pytest.fixture
def imap(make_server):
    return setup_imap(make_server()).start()


def send(server, msgs, rcpt=ALICE):
    before = server.mailbox_counts(rcpt).get("INBOX", 0)
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        for m in msgs:
            c.sendmail("sender@remote.test", [rcpt], m)
    assert server.wait_count(rcpt, before + len(msgs)) == before + len(msgs)


def login(server, user=ALICE):
    m = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    m.login(user, PW)
    return m


def ok(res):
    typ, data = res
    assert typ == "OK", (typ, data)
    return data


def fetch_one(m, uid, item):
    """The value of one FETCH item for one UID (literal or atom)."""
    typ, data = m.uid("FETCH", str(uid), item)
    assert typ == "OK", data
    for d in data:
        if isinstance(d, tuple):
            return d[1]
    return data[0]


class Raw:
    """A bare IMAP client: lines and literals, over plain or TLS, with
    COMPRESS=DEFLATE when switched on."""

    def __init__(self, port, tls=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            self.sock = client_ctx().wrap_socket(self.sock)
        self.buf = b""
        self.zin = self.zout = None
        self.n = 0
        self.wire = 0           # bytes received on the socket
        self.greeting = self.line()

    def send(self, data):
        if self.zout is not None:
            data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.wire += len(d)
        if self.zin is not None:
            d = self.zin.decompress(d)
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_literal(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def cmd(self, text):
        """Sends a command, returns (untagged lines incl. literals, tagged)."""
        self.n += 1
        tag = b"t%d" % self.n
        self.send(tag + b" " + text + b"\r\n")
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            ln = self.line()
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            if m:
                ln += self.read_literal(int(m.group(1)))
                ln += self.line()
            if ln.startswith(tag + b" "):
                return lines, ln
            lines.append(ln)

    def compress(self):
        lines, tagged = self.cmd(b"COMPRESS DEFLATE")
        assert tagged.split()[1] == b"OK", tagged
        self.zin = zlib.decompressobj(-15)
        self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
        assert self.buf == b""

    def close(self):
        self.sock.close()


# ---- plain, STARTTLS, implicit TLS --------------------------------------

def test_greeting_capability_login_list_select(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port, timeout=30)
    caps = m.capabilities
    for c in ("IMAP4REV1", "STARTTLS", "IDLE", "COMPRESS=DEFLATE"):
        assert c in caps, caps
    # loopback: plaintext LOGIN allowed by default
    assert "LOGINDISABLED" not in caps
    ok(m.login(ALICE, PW))
    data = ok(m.list())
    names = {}
    for d in data:
        mm = re.match(rb'\(([^)]*)\) "(.)" (.+)$', d)
        assert mm, d
        names[mm.group(3).strip(b'"')] = mm.group(1)
    for mb in (b"INBOX", b"Sent", b"Drafts", b"Junk", b"Trash"):
        assert mb in names, names
    assert b"\\Sent" in names[b"Sent"]
    assert b"\\Junk" in names[b"Junk"]
    assert b"\\Trash" in names[b"Trash"]
    assert ok(m.select("INBOX")) == [b"0"]
    assert m.logout()[0] == "BYE"


def test_wrong_password_and_unknown_user(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port, timeout=30)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login(ALICE, "Guessed-Pw-7")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login("nobody@local.test", PW)
    ok(m.login(ALICE, PW))
    m.logout()
    assert re.search(r"imap auth failed sid=\w+ peer=127\.0\.0\.1",
                     imap.read_log())
    # passwords never reach the log
    assert PW not in imap.read_log()
    assert "Guessed-Pw-7" not in imap.read_log()


def test_failed_logins_are_slowed_down(imap):
    """The login throttle (shared with SMTP AUTH and POP3): past three
    failures from an address, answers come late; the right password still
    works after the wait."""
    times = []
    for i in range(4):
        # one connection each: the session hangs up after a few failures
        m = imaplib.IMAP4("127.0.0.1", imap.imap_port, timeout=30)
        t = time.monotonic()
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            m.login(ALICE, "Guess-%d" % i)
        times.append(time.monotonic() - t)
        m.shutdown()
    assert max(times[:3]) < 0.9, times
    assert times[3] >= 0.9, times
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port, timeout=30)
    t = time.monotonic()
    ok(m.login(ALICE, PW))
    assert time.monotonic() - t >= 0.9
    m.logout()


def test_starttls_then_login(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port, timeout=30)
    ok(m.starttls(ssl_context=client_ctx()))
    assert "STARTTLS" not in m.capabilities
    ok(m.login(ALICE, PW))
    send(imap, [make_msg(1)])
    ok(m.select("INBOX"))
    body = fetch_one(m, 1, "(BODY.PEEK[TEXT])")
    assert body == b"Body line of message 1\r\nsecond line\r\n"
    m.logout()


def test_imaps_login_fetch(imap):
    send(imap, [make_msg(1)])
    m = imaplib.IMAP4_SSL("127.0.0.1", imap.imaps_port,
                          ssl_context=client_ctx(), timeout=30)
    assert "STARTTLS" not in m.capabilities
    ok(m.login(ALICE, PW))
    assert ok(m.select("INBOX")) == [b"1"]
    hdr = fetch_one(m, 1, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert hdr == b"Subject: message 1\r\n\r\n"
    m.logout()


def test_plaintext_refused_without_tls_when_not_allowed(make_server):
    s = setup_imap(make_server())
    s.set_option("server", "plaintext_auth_loopback", "no")
    s.start()
    m = imaplib.IMAP4("127.0.0.1", s.imap_port, timeout=30)
    assert "LOGINDISABLED" in m.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        m.login(ALICE, PW)
    ok(m.starttls(ssl_context=client_ctx()))
    assert "LOGINDISABLED" not in m.capabilities
    ok(m.login(ALICE, PW))
    m.logout()


def test_starttls_pipelined_command_discarded(imap):
    """Plaintext sent behind STARTTLS is never executed (CVE-2011-0411)."""
    s = socket.create_connection(("127.0.0.1", imap.imap_port), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    s.sendall(b"a STARTTLS\r\nb LOGIN alice@local.test secret-pw\r\n")
    assert f.readline().startswith(b"a OK")
    t = client_ctx().wrap_socket(s)
    t.sendall(b"c NOOP\r\n")
    ft = t.makefile("rb")
    line = ft.readline()
    # the injected LOGIN never ran: its tag never answers
    assert line.startswith(b"c OK"), line
    t.sendall(b"d LOGOUT\r\n")
    rest = ft.read()
    assert b"b OK" not in rest and b"b NO" not in rest
    t.close()
    assert "imap starttls-pipelined" in imap.read_log()


# ---- the mailbox commands ----------------------------------------------

def test_append_fetch_structure_sections_partial(imap):
    m = login(imap)
    date = imaplib.Time2Internaldate(time.mktime((2026, 3, 3, 12, 0, 0, 0, 0, -1)))
    typ, data = m.append("INBOX", r"(\Flagged $Work)", date, MULTIPART)
    assert typ == "OK", data
    mm = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
    assert mm, data
    uid = int(mm.group(2))
    assert ok(m.select("INBOX")) == [b"1"]
    typ, data = m.uid("FETCH", str(uid), "(FLAGS RFC822.SIZE INTERNALDATE "
                      "ENVELOPE BODYSTRUCTURE)")
    assert typ == "OK"
    line = data[0]
    assert b"\\Flagged" in line and b"$Work" in line
    assert b"RFC822.SIZE %d" % len(MULTIPART) in line
    assert b'"with attachment"' in line
    assert b'"Carol"' in line and b'"carol" "remote.test"' in line
    assert re.search(rb'BODYSTRUCTURE \(\("TEXT" "PLAIN"', line, re.I)
    assert re.search(rb'"MIXED"', line, re.I)
    assert re.search(rb'"APPLICATION" "OCTET-STREAM"', line, re.I)
    assert b"03-Mar-2026" in line
    # whole message, text part, header of the whole, MIME of part 2
    assert fetch_one(m, uid, "(BODY.PEEK[])") == MULTIPART
    assert fetch_one(m, uid, "(BODY.PEEK[1])") == \
        b"Hello Alice, see the attachment."
    assert fetch_one(m, uid, "(BODY.PEEK[2])") == b"AAECAwQFBgcICQ=="
    mime2 = fetch_one(m, uid, "(BODY.PEEK[2.MIME])")
    assert mime2.startswith(b"Content-Type: application/octet-stream")
    hdr = fetch_one(m, uid, "(BODY.PEEK[HEADER])")
    assert hdr == MULTIPART[:MULTIPART.index(b"\r\n\r\n") + 4]
    # partial: <offset.length>
    typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[]<6.5>)")
    assert data[0][0].endswith(b"BODY[]<6> {5}")
    assert data[0][1] == MULTIPART[6:11]
    # BINARY decodes the base64 part (RFC 3516)
    assert fetch_one(m, uid, "(BINARY.PEEK[2])") == bytes(range(10))
    # peeking did not set \Seen; BODY[] does
    assert b"\\Seen" not in fetch_one(m, uid, "(FLAGS)")
    m.uid("FETCH", str(uid), "(BODY[TEXT])")
    assert b"\\Seen" in fetch_one(m, uid, "(FLAGS)")
    m.logout()


def test_append_to_missing_mailbox_trycreate(imap):
    m = login(imap)
    typ, data = m.append("NoSuchBox", None, None, make_msg(1))
    assert typ == "NO" and b"TRYCREATE" in data[0]
    ok(m.create("Projects/2026"))
    ok(m.append("Projects/2026", None, None, make_msg(1)))
    st = ok(m.status("Projects/2026", "(MESSAGES UIDNEXT)"))
    assert b"MESSAGES 1" in st[0]
    m.logout()


def test_search_store_copy_move_expunge(imap):
    send(imap, [make_msg(1), make_msg(2, subject="quarterly report"),
                make_msg(3, body="the word zanzibar is here\r\n")])
    m = login(imap)
    assert ok(m.select("INBOX")) == [b"3"]
    assert ok(m.search(None, "SUBJECT", "quarterly")) == [b"2"]
    assert ok(m.search(None, "BODY", "zanzibar")) == [b"3"]
    assert ok(m.search(None, "ALL")) == [b"1 2 3"]
    assert ok(m.uid("SEARCH", "UNSEEN")) == [b"1 2 3"]
    data = ok(m.store("1:2", "+FLAGS", r"(\Seen)"))
    assert len(data) == 2 and b"\\Seen" in data[0]
    assert ok(m.search(None, "SEEN")) == [b"1 2"]
    assert ok(m.search(None, "UNSEEN")) == [b"3"]
    ok(m.store("2", "-FLAGS", r"(\Seen)"))
    assert ok(m.search(None, "SEEN")) == [b"1"]
    # COPY keeps the source, MOVE takes it (RFC 6851)
    typ, data = m.copy("1", "Trash")
    assert typ == "OK" and b"COPYUID" in data[0]
    typ, data = m.uid("MOVE", "3", "Junk")
    assert typ == "OK", data
    assert m.response("EXPUNGE")[1] == [b"3"]
    assert ok(m.search(None, "ALL")) == [b"1 2"]
    assert b"MESSAGES 1" in ok(m.status("Trash", "(MESSAGES)"))[0]
    assert b"MESSAGES 1" in ok(m.status("Junk", "(MESSAGES)"))[0]
    # EXPUNGE removes \Deleted
    ok(m.store("1", "+FLAGS", r"(\Deleted)"))
    data = ok(m.expunge())
    assert data == [b"1"]
    assert ok(m.search(None, "ALL")) == [b"1"]
    assert imap.mailbox_counts(ALICE)["INBOX"] == 1
    # the remaining one is "quarterly report"
    hdr = fetch_one(m, int(ok(m.uid("SEARCH", "ALL"))[0]),
                    "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"quarterly report" in hdr
    m.logout()


def test_create_rename_delete_subscribe(imap):
    m = login(imap)
    ok(m.create("Archive"))
    ok(m.create("Archive/2025"))
    ok(m.rename("Archive/2025", "Archive/Old"))
    names = b" ".join(ok(m.list('""', "Archive*")))
    assert b"Archive/Old" in names and b"Archive/2025" not in names
    ok(m.subscribe("Archive"))
    assert b"Archive" in b" ".join(ok(m.lsub()))
    ok(m.delete("Archive/Old"))
    typ, data = m.delete("INBOX")
    assert typ == "NO"
    typ, data = m.create("bad/../name")
    assert typ == "NO"
    m.logout()


def test_quota_from_config(make_server):
    """[store] quota reaches the session (RFC 9208 GETQUOTAROOT)."""
    s = make_server()
    s.set_option("store", "quota", "10M")
    setup_imap(s).start()
    send(s, [make_msg(1)])
    m = login(s)
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK"
    assert data[0] == [b'"INBOX" ""']
    mm = re.match(rb'"" \(STORAGE (\d+) (\d+)\)', data[1][0])
    assert mm, data
    assert int(mm.group(2)) == 10 * 1024 and int(mm.group(1)) >= 1
    m.logout()


# ---- IDLE and other sessions -------------------------------------------

def idle_start(m):
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    line = m.readline()
    assert line.startswith(b"+"), line
    return tag


def idle_done(m, tag):
    m.send(b"DONE\r\n")
    lines = []
    while True:
        line = m.readline()
        lines.append(line)
        if line.startswith(tag):
            assert b" OK" in line, line
            return lines


def test_idle_hears_smtp_delivery_within_a_second(imap):
    send(imap, [make_msg(1)])
    m = login(imap)
    assert ok(m.select("INBOX")) == [b"1"]
    tag = idle_start(m)
    for i in range(3):
        with smtplib.SMTP("127.0.0.1", imap.smtp_port) as c:
            c.sendmail("sender@remote.test", [ALICE], make_msg(10 + i))
            sent = time.monotonic()
        m.sock.settimeout(5)
        line = m.readline()
        took = time.monotonic() - sent
        assert line == b"* %d EXISTS\r\n" % (2 + i), line
        assert took < 1.0, "IDLE heard of the delivery after %.3f s" % took
        # IMAP4rev1: the first session to see it has it as \Recent
        assert m.readline() == b"* %d RECENT\r\n" % (2 + i)
    lines = idle_done(m, tag)
    assert len(lines) == 1, lines
    # a delivery to another account wakes nobody here
    tag = idle_start(m)
    send(imap, [make_msg(20)], rcpt=BOB)
    readable, _, _ = select.select([m.sock], [], [], 1.5)
    assert readable == []
    m.sock.settimeout(10)
    assert len(idle_done(m, tag)) == 1
    m.logout()


def test_idle_hears_other_session_flags_and_expunge(imap):
    send(imap, [make_msg(1), make_msg(2)])
    a = login(imap)
    b = login(imap)
    ok(a.select("INBOX"))
    ok(b.select("INBOX"))
    tag = idle_start(a)
    ok(b.store("1", "+FLAGS", r"(\Flagged)"))
    a.sock.settimeout(5)
    line = a.readline()
    assert re.match(rb"\* 1 FETCH \(.*FLAGS \([^)]*\\Flagged", line), line
    ok(b.store("2", "+FLAGS", r"(\Deleted)"))
    ok(b.expunge())
    seen = b""
    while b"EXPUNGE" not in seen:
        seen += a.readline()
    assert b"* 2 EXPUNGE" in seen
    idle_done(a, tag)
    a.logout()
    b.logout()


def test_two_sessions_see_each_others_changes(imap):
    send(imap, [make_msg(1), make_msg(2), make_msg(3)])
    a = login(imap)
    b = login(imap)
    ok(a.select("INBOX"))
    ok(b.select("INBOX"))
    ok(b.store("2", "+FLAGS", r"(\Answered)"))
    ok(b.store("3", "+FLAGS", r"(\Deleted)"))
    ok(b.expunge())
    ok(b.append("INBOX", None, None, make_msg(4)))
    typ, data = a.noop()
    assert typ == "OK"
    untagged = a.untagged_responses
    assert b"3" in untagged.get("EXPUNGE", []), untagged
    assert untagged.get("EXISTS"), untagged
    fetches = b" ".join(x if isinstance(x, bytes) else x[0]
                        for x in untagged.get("FETCH", []))
    assert b"\\Answered" in fetches, untagged
    assert ok(a.search(None, "ALL")) == [b"1 2 3"]
    assert ok(a.search(None, "ANSWERED")) == [b"2"]
    a.logout()
    b.logout()


# ---- COMPRESS=DEFLATE --------------------------------------------------

@pytest.mark.parametrize("tls", [False, True])
def test_compress_deflate(imap, tls):
    body = "All work and no play makes Jack a dull boy.\r\n" * 2000
    send(imap, [make_msg(1, body=body)])
    stored = imap.messages(ALICE)[0]
    r = Raw(imap.imaps_port if tls else imap.imap_port, tls=tls)
    assert b"COMPRESS=DEFLATE" in r.greeting
    lines, tagged = r.cmd(b'LOGIN "alice@local.test" "secret-pw"')
    assert b"OK" in tagged
    r.compress()
    lines, tagged = r.cmd(b"SELECT INBOX")
    assert tagged.split()[1] == b"OK"
    assert b"* 1 EXISTS\r\n" in lines
    before = r.wire
    lines, tagged = r.cmd(b"UID FETCH 1 (BODY.PEEK[])")
    assert tagged.split()[1] == b"OK"
    lit = lines[0]
    assert lit.endswith(stored + b")\r\n"), lit[:200]
    # the wire carried far less than the message
    assert r.wire - before < len(stored) / 10, (r.wire - before, len(stored))
    lines, tagged = r.cmd(b"NOOP")
    assert tagged.split()[1] == b"OK"
    # a second COMPRESS is refused (RFC 4978: COMPRESSIONACTIVE)
    lines, tagged = r.cmd(b"COMPRESS DEFLATE")
    assert tagged.split()[1] in (b"NO", b"BAD")
    assert b"COMPRESSIONACTIVE" in tagged
    lines, tagged = r.cmd(b"LOGOUT")
    assert any(l.startswith(b"* BYE") for l in lines)
    r.close()


@pytest.mark.parametrize("tls", [False, True])
def test_compress_big_fetch_and_idle(imap, tls):
    """Compressed responses larger than the session's pause point, and an
    IDLE notification through the compressed stream (plain and imaps)."""
    msgs = [make_msg(i, body=("line %d of a long message\r\n" % i) * 3000)
            for i in range(1, 9)]
    send(imap, msgs)
    r = Raw(imap.imaps_port if tls else imap.imap_port, tls=tls)
    r.cmd(b'LOGIN "alice@local.test" "secret-pw"')
    r.compress()
    r.cmd(b"SELECT INBOX")
    lines, tagged = r.cmd(b"FETCH 1:* (BODY.PEEK[])")
    assert tagged.split()[1] == b"OK"
    assert sum(1 for l in lines if b" FETCH " in l) == 8
    assert sum(len(l) for l in lines) > 8 * 60000
    r.n += 1
    tag = b"t%d" % r.n
    r.send(tag + b" IDLE\r\n")
    assert r.line().startswith(b"+")
    with smtplib.SMTP("127.0.0.1", imap.smtp_port) as c:
        c.sendmail("sender@remote.test", [ALICE], make_msg(99))
    assert r.line() == b"* 9 EXISTS\r\n"
    r.send(b"DONE\r\n")
    lines, tagged = r.until(tag)
    assert tagged.split()[1] == b"OK"
    r.cmd(b"LOGOUT")
    r.close()


def test_compressed_bytes_right_behind_compress(imap):
    """A client that sends deflated bytes in the same packet as COMPRESS
    (before our OK): they are inflated, not read as plain text."""
    r = Raw(imap.imap_port)
    r.cmd(b'LOGIN "alice@local.test" "secret-pw"')
    zo = zlib.compressobj(6, zlib.DEFLATED, -15)
    r.sock.sendall(b"z COMPRESS DEFLATE\r\n" + zo.compress(b"n NOOP\r\n") +
                   zo.flush(zlib.Z_SYNC_FLUSH))
    assert r.line().startswith(b"z OK")
    r.zin = zlib.decompressobj(-15)
    r.zout = zo
    r.buf = r.zin.decompress(r.buf)
    assert r.line().startswith(b"n OK")
    r.close()


def test_compress_broken_stream_closes(imap):
    r = Raw(imap.imap_port)
    r.cmd(b'LOGIN "alice@local.test" "secret-pw"')
    r.compress()
    r.zout = None
    r.sock.sendall(b"\xff\xff\xff\xff garbage that is not deflate\r\n")
    r.sock.settimeout(10)
    with pytest.raises((EOFError, ConnectionResetError, zlib.error)):
        while True:
            r.line()
    # the server goes on
    login(imap).logout()


# ---- limits, shutdown, bad input ---------------------------------------

def test_connection_limit(make_server):
    s = setup_imap(make_server())
    s.set_option("smtp", "max_connections_per_ip", "3")
    s.start()
    held = [Raw(s.imap_port) for _ in range(3)]
    c = socket.create_connection(("127.0.0.1", s.imap_port), timeout=10)
    line = c.makefile("rb").readline()
    assert line.startswith(b"* BYE"), line
    c.close()
    held[0].close()
    time.sleep(0.3)
    r = Raw(s.imap_port)
    assert r.greeting.startswith(b"* OK")
    for h in held[1:] + [r]:
        h.close()


def test_shutdown_says_bye(make_server):
    s = setup_imap(make_server()).start()
    idle = Raw(s.imap_port)
    idle.cmd(b'LOGIN "alice@local.test" "secret-pw"')
    idle.cmd(b"SELECT INBOX")
    idle.n += 1
    idle.send(b"t%d IDLE\r\n" % idle.n)
    assert idle.line().startswith(b"+")
    fresh = Raw(s.imap_port)
    s.stop()
    assert idle.line().startswith(b"* BYE")
    assert fresh.line().startswith(b"* BYE")


def test_huge_literal_and_garbage(imap):
    # before login: a literal past the pre-login ceiling is refused at once,
    # before its data (no "+" continuation)
    r = Raw(imap.imap_port)
    r.send(b"a1 LOGIN {99999999}\r\n")
    assert r.line() == b"a1 BAD literal too big\r\n"
    # garbage gets BAD, and the session goes on
    r.send(b"\x00\x01\x02\xff\xfe garbage\r\n")
    assert r.line().startswith(b"* BAD")
    r.send(b"a2 FROBNICATE\r\n")
    assert r.line().startswith(b"a2 BAD")
    r.send(b"a3 NOOP\r\n")
    assert r.line().startswith(b"a3 OK")
    r.close()
    # after login: an APPEND past the size limit gets NO [TOOBIG]
    r = Raw(imap.imap_port)
    r.cmd(b'LOGIN "alice@local.test" "secret-pw"')
    r.send(b"a4 APPEND INBOX {999999999}\r\n")
    line = r.line()
    assert line.startswith(b"a4 NO") and b"TOOBIG" in line, line
    lines, tagged = r.cmd(b"NOOP")
    assert tagged.split()[1] == b"OK"
    # a non-synchronizing literal too big even to read and drop: BYE
    r.send(b"a5 APPEND INBOX {70000000+}\r\n")
    assert r.line().startswith(b"* BYE")
    with pytest.raises((EOFError, ConnectionResetError)):
        r.line()
    r.close()
    # an overlong line: BAD, and the next command is read normally
    r = Raw(imap.imap_port)
    r.send(b"a6 NOOP " + b"x" * 200000 + b"\r\n")
    assert r.line() == b"a6 BAD line too long\r\n"
    r.send(b"a7 NOOP\r\n")
    assert r.line().startswith(b"a7 OK")
    r.close()
    # the server is fine
    m = login(imap)
    ok(m.select("INBOX"))
    m.logout()


def test_junk_commands_get_bye(imap):
    r = Raw(imap.imap_port)
    bye = False
    for i in range(100):
        try:
            r.send(b"x%d NOSUCHCOMMAND\r\n" % i)
            line = r.line()
        except (EOFError, ConnectionResetError, BrokenPipeError):
            bye = True
            break
        if line.startswith(b"* BYE"):
            bye = True
            break
        assert b"BAD" in line, line
    assert bye
    r.close()


def test_random_bytes_do_not_hurt(imap):
    rnd = __import__("random").Random(7)
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", imap.imap_port), timeout=10)
        s.recv(4096)
        try:
            s.sendall(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 5000))))
            s.settimeout(0.2)
            try:
                s.recv(4096)
            except socket.timeout:
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass
        s.close()
    m = login(imap)
    ok(m.select("INBOX"))
    m.logout()


def test_big_mailbox_fetch_all_flow_control(imap):
    """FETCH 1:* of more than the session's pause point, read slowly:
    the server pauses (IMAP_SESSION_MORE) and resumes as the socket drains."""
    body = "x" * 76 + "\r\n"
    msgs = [make_msg(i, body=body * 1500) for i in range(1, 31)]
    send(imap, msgs)
    r = Raw(imap.imap_port)
    r.cmd(b'LOGIN "alice@local.test" "secret-pw"')
    r.cmd(b"SELECT INBOX")
    r.n += 1
    r.send(b"t%d FETCH 1:* (BODY.PEEK[])\r\n" % r.n)
    time.sleep(1.0)      # let the socket buffers fill up
    lines, tagged = r.until(b"t%d" % r.n)
    assert tagged.split()[1] == b"OK"
    assert sum(1 for l in lines if b" FETCH " in l) == 30
    r.close()


def test_abrupt_disconnects_under_load(imap):
    """Clients vanish at every awkward moment (password check out, a long
    FETCH paused, IDLE while deliveries wake it, mid-handshake, compressed)
    while mail arrives: nothing leaks or crashes (ASan checks the log at
    stop), and the server keeps serving."""
    import random
    import struct
    import threading

    body = "y" * 76 + "\r\n"
    send(imap, [make_msg(i, body=body * 400) for i in range(1, 21)])
    errors = []
    stop = threading.Event()

    def rst(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()

    def deliverer():
        n = 100
        while not stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", imap.smtp_port) as c:
                    c.sendmail("sender@remote.test", [ALICE], make_msg(n))
            except Exception as e:          # noqa: BLE001
                errors.append("smtp: %r" % e)
            n += 1
            time.sleep(0.05)

    def client(seed):
        rnd = random.Random(seed)
        for _ in range(8):
            what = rnd.choice(["auth", "fetch", "idle", "tls", "compress",
                               "greet"])
            try:
                if what == "tls":
                    s = socket.create_connection(("127.0.0.1", imap.imaps_port))
                    s.sendall(b"\x16\x03\x01\x00")     # half a ClientHello
                    rst(s)
                    continue
                r = Raw(imap.imap_port)
                if what == "greet":
                    rst(r.sock)
                    continue
                if what == "auth":
                    r.send(b'a LOGIN "alice@local.test" "secret-pw"\r\n')
                    rst(r.sock)
                    continue
                r.cmd(b'LOGIN "alice@local.test" "secret-pw"')
                if what == "compress":
                    r.compress()
                r.cmd(b"SELECT INBOX")
                if what in ("fetch", "compress"):
                    r.send(b"f FETCH 1:* (BODY.PEEK[])\r\n")
                    time.sleep(rnd.random() * 0.05)
                    rst(r.sock)
                    continue
                r.send(b"i IDLE\r\n")
                r.line()
                time.sleep(rnd.random() * 0.3)
                rst(r.sock)
            except (OSError, EOFError) as e:
                errors.append("%s: %r" % (what, e))

    d = threading.Thread(target=deliverer)
    d.start()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    d.join()
    assert not errors, errors[:5]
    m = login(imap)
    n = int(ok(m.select("INBOX"))[0])
    assert n >= 20
    m.logout()


def test_pipelined_commands_pause_and_go_on(imap):
    """Pipelined commands whose responses pass the session's pause point:
    the rest of the input waits while the output drains, then runs, every
    command answered once and in order."""
    body = "p" * 76 + "\r\n"
    send(imap, [make_msg(i, body=body * 400) for i in range(1, 21)])
    r = Raw(imap.imap_port)
    r.cmd(b'LOGIN "alice@local.test" "secret-pw"')
    r.cmd(b"SELECT INBOX")
    batch = b"".join(b"p%d UID FETCH %d (BODY.PEEK[])\r\n" % (i, i)
                     for i in range(1, 21)) * 3
    r.send(batch)
    for rnd in range(3):
        for i in range(1, 21):
            lines, tagged = r.until(b"p%d" % i)
            assert tagged.startswith(b"p%d OK" % i), tagged
            assert len(lines) == 1 and b"UID %d" % i in lines[0]
    lines, tagged = r.cmd(b"NOOP")
    assert tagged.split()[1] == b"OK"
    r.close()


def test_idle_hears_pop3_deletion(make_server):
    """A change made through another protocol in the same process (POP3
    DELE + QUIT) reaches an IDLE session at once."""
    import poplib
    s = setup_imap(make_server())
    s.pop3_port = free_port()
    s.set_listen("pop3", "127.0.0.1:%d" % s.pop3_port)
    s.start()
    send(s, [make_msg(1), make_msg(2)])
    m = login(s)
    assert ok(m.select("INBOX")) == [b"2"]
    tag = idle_start(m)
    p = poplib.POP3("127.0.0.1", s.pop3_port, timeout=30)
    p.user(ALICE)
    p.pass_(PW)
    p.dele(1)
    p.quit()
    m.sock.settimeout(5)
    t = time.monotonic()
    assert m.readline() == b"* 1 EXPUNGE\r\n"
    assert time.monotonic() - t < 1.0
    m.sock.settimeout(10)
    idle_done(m, tag)
    m.logout()
