"""End-to-end: the POP3 server (pop3 with STLS, pop3s) with real clients:
Python's poplib (POP3, POP3_SSL, stls), curl pop3:// and pop3s://, and
fetchmail delivering every message through an MDA into an mbox, compared
byte for byte with what was sent by SMTP.  Also: UIDL stability, DELE only
at QUIT, a dropped connection deleting nothing, [IN-USE], mail arriving
during a session, SASL PLAIN and SCRAM-SHA-256, the STLS injection case.
"""
import base64
import hashlib
import hmac
import os
import poplib
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import free_port

PW = "secret-pw"


def make_msg(i):
    return (b"From: Sender <sender@remote.test>\r\n"
            b"To: Alice <alice@local.test>\r\n"
            b"Subject: message %d\r\n"
            b"Message-ID: <m%d@remote.test>\r\n"
            b"\r\n"
            b"Line one of %d\r\n"
            b".leading dot\r\n"
            b"..two dots\r\n"
            b".\r\n"
            b"last line\r\n" % (i, i, i))


def strip_trace(raw):
    """The stored message minus the headers postino prepends."""
    lines = raw.split(b"\r\n")
    assert lines[0].startswith(b"Return-Path: <")
    assert lines[1].startswith(b"Delivered-To: ")
    assert lines[2].startswith(b"Received: from ")
    i = 3
    while lines[i].startswith((b" ", b"\t")):
        i += 1
    return b"\r\n".join(lines[i:])


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def pop(make_server):
    s = make_server()
    s.pop3_port = free_port()
    s.pop3s_port = free_port()
    s.set_listen("pop3", "127.0.0.1:%d" % s.pop3_port)
    s.set_listen("pop3s", "127.0.0.1:%d" % s.pop3s_port)
    s.add_user("alice@local.test", PW)
    s.add_user("bob@local.test", PW)
    return s.start()


def send(server, msgs, rcpt="alice@local.test"):
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        for m in msgs:
            c.sendmail("sender@remote.test", [rcpt], m)
    before = 0
    assert server.wait_count(rcpt, len(msgs) + before) >= len(msgs)


def login(server, user="alice@local.test"):
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=30)
    p.user(user)
    p.pass_(PW)
    return p


def retr_bytes(p, n):
    resp, lines, octets = p.retr(n)
    return b"\r\n".join(lines) + b"\r\n", resp


def test_retrieve_byte_exact(pop):
    msgs = [make_msg(i) for i in range(5)]
    send(pop, msgs)
    stored = pop.messages("alice@local.test")
    p = login(pop)
    count, octets = p.stat()
    assert count == 5
    assert octets == sum(len(m) for m in stored)
    resp, listing, _ = p.list()
    assert [int(x.split()[1]) for x in listing] == [len(m) for m in stored]
    for i in range(5):
        got, resp = retr_bytes(p, i + 1)
        # the +OK line carries the exact octet count (unstuffed, CRLF)
        assert resp == b"+OK %d octets" % len(stored[i])
        assert got == stored[i]
        assert strip_trace(got) == msgs[i]
    p.quit()


def test_top_uidl_list_n(pop):
    send(pop, [make_msg(1), make_msg(2)])
    p = login(pop)
    resp, lines, _ = p.top(2, 1)
    assert b"Subject: message 2" in lines
    i = lines.index(b"")
    assert lines[i + 1:] == [b"Line one of 2"]
    resp, lines, _ = p.top(1, 0)
    assert lines[-1] == b"" and b"Line one of 1" not in lines
    assert p.list(2).startswith(b"+OK 2 ")
    u1 = p.uidl(1).split()[2]
    assert re.match(rb"^\d+\.\d+$", u1)
    with pytest.raises(poplib.error_proto, match="no such message"):
        p.retr(3)
    p.quit()


def test_uidl_stable_and_never_reused(pop):
    send(pop, [make_msg(1), make_msg(2), make_msg(3)])
    p = login(pop)
    first = p.uidl()[1]
    p.dele(3)
    p.quit()
    p = login(pop)
    again = p.uidl()[1]
    assert again == first[:2]
    p.quit()
    send(pop, [make_msg(4)])
    p = login(pop)
    uids = [x.split()[1] for x in p.uidl()[1]]
    old = [x.split()[1] for x in first]
    assert uids[:2] == old[:2]
    # the new message does not get the UIDL of the deleted one
    assert uids[2] not in old
    p.quit()


def test_dele_only_at_quit(pop):
    send(pop, [make_msg(1), make_msg(2), make_msg(3)])
    p = login(pop)
    p.dele(1)
    p.dele(2)
    assert p.stat()[0] == 1
    with pytest.raises(poplib.error_proto, match="already deleted"):
        p.retr(1)
    p.rset()
    assert p.stat()[0] == 3
    p.dele(2)
    # not yet removed: the store still has three
    assert pop.mailbox_counts("alice@local.test")["INBOX"] == 3
    resp = p.quit()
    assert b"signing off (2 messages left)" in resp
    assert pop.mailbox_counts("alice@local.test")["INBOX"] == 2
    p = login(pop)
    got, _ = retr_bytes(p, 2)
    assert strip_trace(got) == make_msg(3)
    p.quit()


def test_dropped_connection_deletes_nothing(pop):
    send(pop, [make_msg(1), make_msg(2)])
    p = login(pop)
    p.dele(1)
    p.dele(2)
    p.sock.shutdown(socket.SHUT_RDWR)   # no QUIT
    p.sock.close()
    # the lock goes with the connection; nothing was removed
    deadline = time.time() + 10
    while True:
        try:
            q = login(pop)
            break
        except poplib.error_proto:
            assert time.time() < deadline
            time.sleep(0.1)
    assert q.stat()[0] == 2
    q.quit()
    assert pop.mailbox_counts("alice@local.test")["INBOX"] == 2


def test_in_use(pop):
    send(pop, [make_msg(1)])
    p = login(pop)
    q = poplib.POP3("127.0.0.1", pop.pop3_port, timeout=30)
    q.user("alice@local.test")
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        q.pass_(PW)
    q.quit()
    # another account is not locked
    login(pop, "bob@local.test").quit()
    p.quit()
    login(pop).quit()


def test_new_mail_does_not_renumber(pop):
    send(pop, [make_msg(1), make_msg(2)])
    p = login(pop)
    assert p.stat()[0] == 2
    send(pop, [make_msg(3)])
    assert p.stat()[0] == 2
    assert len(p.list()[1]) == 2
    with pytest.raises(poplib.error_proto):
        p.retr(3)
    p.dele(1)
    p.quit()
    p = login(pop)
    assert p.stat()[0] == 2
    got, _ = retr_bytes(p, 2)
    assert strip_trace(got) == make_msg(3)
    p.quit()


def test_wrong_password_and_apop(pop):
    p = poplib.POP3("127.0.0.1", pop.pop3_port, timeout=30)
    p.user("alice@local.test")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.pass_("wrong")
    p.user("nobody@local.test")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.pass_(PW)
    with pytest.raises(poplib.error_proto, match="APOP"):
        p.apop("alice@local.test", PW)
    p.quit()


def test_pop3s_and_stls(pop):
    send(pop, [make_msg(1)])
    p = poplib.POP3_SSL("127.0.0.1", pop.pop3s_port, context=client_ctx(),
                        timeout=30)
    assert "STLS" not in p.capa()
    p.user("alice@local.test")
    p.pass_(PW)
    got, _ = retr_bytes(p, 1)
    assert strip_trace(got) == make_msg(1)
    p.quit()
    p = poplib.POP3("127.0.0.1", pop.pop3_port, timeout=30)
    assert "STLS" in p.capa()
    p.stls(client_ctx())
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps
    p.user("alice@local.test")
    p.pass_(PW)
    assert p.stat()[0] == 1
    p.quit()


def raw_lines(sock, n):
    data = b""
    while data.count(b"\r\n") < n:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_stls_injection(pop):
    """Plaintext pipelined behind STLS is dropped, never executed."""
    s = socket.create_connection(("127.0.0.1", pop.pop3_port), timeout=10)
    assert raw_lines(s, 1).startswith(b"+OK")
    s.sendall(b"STLS\r\nUSER alice@local.test\r\n")
    assert raw_lines(s, 1) == b"+OK Begin TLS negotiation\r\n"
    t = client_ctx().wrap_socket(s)
    t.sendall(b"PASS " + PW.encode() + b"\r\n")
    # USER from before the handshake is forgotten
    assert raw_lines(t, 1).startswith(b"-ERR USER first")
    t.sendall(b"QUIT\r\n")
    raw_lines(t, 1)
    t.close()
    assert "stls-pipelined" in pop.read_log()


def test_auth_plain(pop):
    s = socket.create_connection(("127.0.0.1", pop.pop3_port), timeout=10)
    raw_lines(s, 1)
    tok = base64.b64encode(b"\0alice@local.test\0" + PW.encode())
    s.sendall(b"AUTH PLAIN " + tok + b"\r\nSTAT\r\nQUIT\r\n")
    out = raw_lines(s, 3)
    lines = out.split(b"\r\n")
    assert lines[0].startswith(b"+OK maildrop locked")
    assert lines[1] == b"+OK 0 0"
    s.close()


def scram_login(port, user, password):
    """A SCRAM-SHA-256 client (RFC 5802/7677) over POP3 AUTH (RFC 5034)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=%s,r=%s" % (user, cnonce)
    s.sendall(b"AUTH SCRAM-SHA-256 " +
              base64.b64encode(("n,," + bare).encode()) + b"\r\n")
    line = f.readline().strip()
    assert line.startswith(b"+ "), line
    sfirst = base64.b64decode(line[2:]).decode()
    attrs = dict(kv.split("=", 1) for kv in sfirst.split(","))
    assert attrs["r"].startswith(cnonce)
    salt = base64.b64decode(attrs["s"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt,
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(ckey).digest()
    final_wo = "c=biws,r=" + attrs["r"]
    authmsg = ",".join([bare, sfirst, final_wo]).encode()
    sig = hmac.new(stored, authmsg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    cfinal = final_wo + ",p=" + base64.b64encode(proof).decode()
    s.sendall(base64.b64encode(cfinal.encode()) + b"\r\n")
    line = f.readline().strip()
    result = [line]
    if line.startswith(b"+ "):
        sfinal = base64.b64decode(line[2:]).decode()
        skey = hmac.new(salted, b"Server Key", "sha256").digest()
        want = base64.b64encode(hmac.new(skey, authmsg, "sha256").digest())
        assert sfinal == "v=" + want.decode()
        s.sendall(b"\r\n")
        result.append(f.readline().strip())
    s.sendall(b"QUIT\r\n")
    f.readline()
    s.close()
    return result


def test_auth_scram(pop):
    r = scram_login(pop.pop3_port, "alice@local.test", PW)
    assert r[-1].startswith(b"+OK maildrop locked"), r
    r = scram_login(pop.pop3_port, "alice@local.test", "wrong")
    assert r[-1].startswith(b"-ERR [AUTH]"), r
    r = scram_login(pop.pop3_port, "ghost@local.test", PW)
    assert r[-1].startswith(b"-ERR [AUTH]"), r


def test_bad_commands_and_long_line(pop):
    s = socket.create_connection(("127.0.0.1", pop.pop3_port), timeout=10)
    raw_lines(s, 1)
    s.sendall(b"STAT\r\nXYZ\r\nNOOP " + b"a" * 2000 + b"\r\nCAPA\r\n")
    out = raw_lines(s, 4)
    lines = out.split(b"\r\n")
    assert lines[0] == b"-ERR not logged in"
    assert lines[1] == b"-ERR unknown command"
    assert lines[2] == b"-ERR line too long"
    assert lines[3] == b"+OK Capability list follows"
    s.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl missing")
def test_curl(pop):
    send(pop, [make_msg(1), make_msg(2)])
    stored = pop.messages("alice@local.test")
    url = "pop3://127.0.0.1:%d/" % pop.pop3_port
    p = subprocess.run(["curl", "-sS", "--user", "alice@local.test:" + PW,
                        url], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split(b"\r\n")[:2] == [
        b"1 %d" % len(stored[0]), b"2 %d" % len(stored[1])]
    p = subprocess.run(["curl", "-sS", "--user", "alice@local.test:" + PW,
                        url + "2"], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == stored[1]
    p = subprocess.run(["curl", "-sS", "--ssl-reqd", "-k", "--user",
                        "alice@local.test:" + PW, url + "1"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == stored[0]
    p = subprocess.run(["curl", "-sS", "-k", "--user",
                        "alice@local.test:" + PW,
                        "pop3s://127.0.0.1:%d/1" % pop.pop3s_port],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == stored[0]


MDA = r'''import sys
data = sys.stdin.buffer.read()
with open(sys.argv[1], "ab") as f:
    f.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n")
    f.write(data)
    if not data.endswith(b"\n"):
        f.write(b"\n")
    f.write(b"\n")
'''


@pytest.mark.skipif(shutil.which("fetchmail") is None,
                    reason="fetchmail missing (scripts/deps.sh test)")
def test_fetchmail_mbox(pop, tmp_path):
    msgs = [make_msg(i) for i in range(20)]
    send(pop, msgs)
    stored = pop.messages("alice@local.test")
    mda = tmp_path / "mda.py"
    mda.write_text(MDA)
    mbox = tmp_path / "mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        "poll 127.0.0.1 service %d protocol pop3 uidl auth password:\n"
        "  user 'alice@local.test' there password '%s'\n"
        "  sslproto '' no keep fetchall\n"
        "  mda \"python3 %s %s\"\n" % (pop.pop3_port, PW, mda, mbox))
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path))
    p = subprocess.run(["fetchmail", "-f", str(rc), "--invisible",
                        "--nosyslog", "-v"],
                       capture_output=True, timeout=120, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    boxed = mbox.read_bytes().split(
        b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n")[1:]
    assert len(boxed) == len(stored)
    for got, want in zip(boxed, stored):
        # fetchmail hands the MDA LF line ends; the MDA adds one blank line
        assert got[:-1] == want.replace(b"\r\n", b"\n")
    # "no keep": all were deleted at QUIT
    assert pop.mailbox_counts("alice@local.test")["INBOX"] == 0


def test_large_message_streamed(pop):
    """A 4 MB message full of dot lines, RETR byte-exact, with TOP."""
    lines = []
    for i in range(120000):
        lines.append(b".line %d" % i if i % 3 == 0 else b"text line %d" % i)
    big = (b"From: <sender@remote.test>\r\nSubject: big\r\n\r\n" +
           b"\r\n".join(lines) + b"\r\n")
    assert len(big) > 1500000
    send(pop, [big])
    stored = pop.messages("alice@local.test")[0]
    p = login(pop)
    got, resp = retr_bytes(p, 1)
    assert resp == b"+OK %d octets" % len(stored)
    assert got == stored and strip_trace(got) == big
    resp, top, _ = p.top(1, 2)
    i = top.index(b"")
    assert top[i + 1:] == [b".line 0", b"text line 1"]
    p.quit()


def test_pipelined_session(pop):
    send(pop, [make_msg(1)])
    stored = pop.messages("alice@local.test")[0]
    s = socket.create_connection(("127.0.0.1", pop.pop3_port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"CAPA\r\nUSER alice@local.test\r\nPASS " + PW.encode() +
              b"\r\nSTAT\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n")
    assert f.readline() == b"+OK Capability list follows\r\n"
    while f.readline() != b".\r\n":
        pass
    assert f.readline().startswith(b"+OK Send your password")
    assert f.readline().startswith(b"+OK maildrop locked")
    assert f.readline() == b"+OK 1 %d\r\n" % len(stored)
    assert f.readline() == b"+OK %d octets\r\n" % len(stored)
    body = b""
    while True:
        line = f.readline()
        if line == b".\r\n":
            break
        body += line[1:] if line.startswith(b"..") else line
    assert body == stored
    assert f.readline() == b"+OK message 1 deleted\r\n"
    assert f.readline().startswith(b"+OK mail.local.test POP3 server "
                                   b"signing off (0 messages left)")
    s.close()
    assert pop.mailbox_counts("alice@local.test")["INBOX"] == 0


def test_shutdown_with_sessions(pop):
    """SIGTERM with sessions open: each is told, the server stops cleanly
    (the fixture's stop checks the exit status and sanitizer output)."""
    send(pop, [make_msg(1)])
    p = login(pop)
    q = poplib.POP3("127.0.0.1", pop.pop3_port, timeout=30)
    pop.stop()
    assert pop.mailbox_counts("alice@local.test")["INBOX"] == 1
    with pytest.raises((poplib.error_proto, EOFError, OSError)) as e:
        p.stat()
    assert "shutting down" in str(e.value) or not isinstance(
        e.value, poplib.error_proto)
    q.sock.close()
    p.sock.close()


def scram_salt_pop3(port, user):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"AUTH SCRAM-SHA-256 " +
              base64.b64encode(b"n,,n=" + user.encode() + b",r=abcdefgh") +
              b"\r\n")
    line = f.readline().strip()
    s.close()
    assert line.startswith(b"+ "), line
    return dict(kv.split("=", 1) for kv in
                base64.b64decode(line[2:]).decode().split(","))["s"]


def scram_salt_smtp(port, user):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"EHLO client.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    s.sendall(b"AUTH SCRAM-SHA-256 " +
              base64.b64encode(b"n,,n=" + user.encode() + b",r=abcdefgh") +
              b"\r\n")
    line = f.readline().strip()
    s.close()
    assert line.startswith(b"334 "), line
    return dict(kv.split("=", 1) for kv in
                base64.b64decode(line[4:]).decode().split(","))["s"]


def test_scram_salt_same_as_smtp(make_server):
    """An unknown user's fake SCRAM salt is the same on SMTP AUTH and
    POP3 (else comparing them would reveal that the account is missing),
    and a real user's is the stored one on both."""
    s = make_server()
    s.pop3_port = free_port()
    sub = free_port()
    s.set_listen("pop3", "127.0.0.1:%d" % s.pop3_port)
    s.set_listen("submission", "127.0.0.1:%d" % sub)
    s.add_user("alice@local.test", PW)
    s.start()
    for user in ("alice@local.test", "ghost@local.test"):
        assert scram_salt_pop3(s.pop3_port, user) == \
            scram_salt_smtp(sub, user)
    assert scram_salt_pop3(s.pop3_port, "ghost@local.test") == \
        scram_salt_pop3(s.pop3_port, "ghost@local.test")


def test_plaintext_login_on_loopback_can_be_refused(make_server):
    """[server] plaintext_auth_loopback = no: even a loopback client must
    use STLS before USER/PASS (and SMTP AUTH PLAIN needs TLS too)."""
    import poplib
    s = make_server(extra=[("server", "plaintext_auth_loopback", "no")])
    port = free_port()
    s.set_listen("pop3", "127.0.0.1:%d" % port)
    s.add_user("alice@local.test", "pw-alice")
    s.start()
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    try:
        with pytest.raises(poplib.error_proto):
            p.user("alice@local.test")
            p.pass_("pw-alice")
    finally:
        p.close()
