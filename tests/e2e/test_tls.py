"""End-to-end: TLS on the smtp (25), submission (587) and submissions (465)
listeners, with real clients: Python's smtplib and ssl, openssl s_client,
curl and swaks.  Covers STARTTLS, implicit TLS, old protocol versions
refused, the STARTTLS command injection (CVE-2011-0411), failed handshakes
that must not disturb other sessions, and the certificate reload on SIGHUP.
"""
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import free_port
from smtpraw import Raw, greet

MSG = (b"From: Sender <sender@remote.test>\r\n"
       b"To: Alice <alice@local.test>\r\n"
       b"Subject: over TLS\r\n"
       b"\r\n"
       b"hello over TLS\r\n")


def client_ctx(server=None):
    """A client context; with a server, it verifies that server's cert."""
    if server is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context(cafile=server.cert)
    # smtplib passes the address as the name; the chain is still checked
    ctx.check_hostname = False
    return ctx


def old_ctx(maximum):
    """A client that offers nothing newer than `maximum` (TLS 1.0/1.1)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # let the client itself allow the old versions, so the refusal
    # measured is the server's
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = maximum
    return ctx


def wait_log(server, pattern, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, server.read_log())
        if m:
            return m
        time.sleep(0.05)
    raise AssertionError("log never matched %r:\n%s" % (
        pattern, server.read_log()[-3000:]))


@pytest.fixture
def tls_server(make_server):
    s = make_server()
    s.submission_port = free_port()
    s.submissions_port = free_port()
    s.set_listen("submission", "127.0.0.1:%d" % s.submission_port)
    s.set_listen("submissions", "127.0.0.1:%d" % s.submissions_port)
    conf = open(s.conf).read()
    s.cert = re.search(r"^cert\s*=\s*(\S+)", conf, re.M).group(1)
    s.key = re.search(r"^key\s*=\s*(\S+)", conf, re.M).group(1)
    s.add_user("alice@local.test")
    return s.start()


def test_starttls_smtplib_delivers_with_esmtps(tls_server):
    s = tls_server
    with smtplib.SMTP("127.0.0.1", s.smtp_port) as c:
        c.ehlo("client.test")
        assert c.has_extn("starttls")
        code, _ = c.starttls(context=client_ctx(s))
        assert code == 220
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        c.ehlo("client.test")
        # RFC 3207 4.2: not offered again once TLS is on
        assert not c.has_extn("starttls")
        c.sendmail("sender@remote.test", ["alice@local.test"], MSG)
    assert s.wait_count("alice@local.test", 1) == 1
    raw = s.message("alice@local.test", 1)
    rcv = re.search(rb"Received: from client\.test .*?;", raw, re.S)
    assert rcv is not None, raw
    # RFC 3848: ESMTPS, with the negotiated version and cipher
    assert re.search(rb"with ESMTPS \(TLSv1\.[23] [A-Z0-9_-]+\) id ",
                     rcv.group(0)), rcv.group(0)


def test_starttls_twice_refused_and_args_refused(tls_server):
    r = greet(tls_server.smtp_port)
    code, _ = r.cmd("STARTTLS now")
    assert code == 501
    code, _ = r.cmd("STARTTLS")
    assert code == 220
    tls = client_ctx().wrap_socket(r.sock)
    tls.sendall(b"EHLO client.test\r\n")
    f = tls.makefile("rb")
    lines = []
    while True:
        ln = f.readline()
        lines.append(ln)
        if ln[3:4] == b" ":
            break
    assert not any(b"STARTTLS" in ln for ln in lines)
    tls.sendall(b"STARTTLS\r\n")
    assert f.readline().startswith(b"503 5.5.1")
    tls.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"221 ")
    tls.close()


def test_starttls_in_transaction_refused(tls_server):
    r = greet(tls_server.smtp_port)
    assert r.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
    assert r.cmd("STARTTLS")[0] == 503
    assert r.cmd("QUIT")[0] == 221


def test_implicit_tls_465(tls_server):
    s = tls_server
    with smtplib.SMTP_SSL("127.0.0.1", s.submissions_port,
                          context=client_ctx(s)) as c:
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        code, _ = c.ehlo("client.test")
        assert code == 250
        assert not c.has_extn("starttls")
        # submission: nothing is accepted before AUTH
        code, msg = c.mail("sender@local.test")
        assert code == 530, msg


def test_submission_587_starttls_then_auth_required(tls_server):
    s = tls_server
    with smtplib.SMTP("127.0.0.1", s.submission_port) as c:
        c.ehlo("client.test")
        assert c.has_extn("starttls")
        c.starttls(context=client_ctx(s))
        c.ehlo("client.test")
        code, _ = c.mail("sender@local.test")
        assert code == 530


def run(argv, stdin=b"", timeout=20):
    return subprocess.run(argv, input=stdin, capture_output=True,
                          timeout=timeout)


def s_client(args, script):
    """openssl s_client with a scripted dialogue; returns its output."""
    p = run(["openssl", "s_client", "-ign_eof", "-crlf"] + args, script)
    return p.stdout.decode(errors="replace") + p.stderr.decode(
        errors="replace")


@pytest.mark.parametrize("listener", ["smtp", "submission"])
def test_openssl_s_client_starttls(tls_server, listener):
    port = (tls_server.smtp_port if listener == "smtp"
            else tls_server.submission_port)
    out = s_client(["-starttls", "smtp", "-connect", "127.0.0.1:%d" % port,
                    "-CAfile", tls_server.cert],
                   b"EHLO client.test\nNOOP\nQUIT\n")
    assert re.search(r"Protocol\s*:\s*TLSv1\.[23]|New, TLSv1\.[23]", out), out
    assert "Verify return code: 0 (ok)" in out, out
    assert "250 2.0.0 OK" in out, out
    assert "221 2.0.0" in out, out


def test_openssl_s_client_465(tls_server):
    out = s_client(["-connect", "127.0.0.1:%d" % tls_server.submissions_port,
                    "-CAfile", tls_server.cert],
                   b"EHLO client.test\nQUIT\n")
    assert "220 mail.local.test ESMTP" in out, out
    assert "250-mail.local.test" in out, out
    assert "Verify return code: 0 (ok)" in out, out
    assert "221 2.0.0" in out, out


def test_curl_ssl_reqd(tls_server, tmp_path):
    s = tls_server
    msg = tmp_path / "m.eml"
    msg.write_bytes(MSG)
    p = run(["curl", "-sS", "--ssl-reqd", "--cacert", s.cert,
             "--resolve", "mail.local.test:%d:127.0.0.1" % s.smtp_port,
             "smtp://mail.local.test:%d" % s.smtp_port,
             "--mail-from", "sender@remote.test",
             "--mail-rcpt", "alice@local.test", "-T", str(msg)])
    assert p.returncode == 0, p.stderr
    assert s.wait_count("alice@local.test", 1) == 1
    assert b"with ESMTPS" in s.message("alice@local.test", 1)


def test_swaks_tls(tls_server):
    s = tls_server
    p = run(["swaks", "--tls", "-s", "127.0.0.1", "-p", str(s.smtp_port),
             "--from", "sender@remote.test", "--to", "alice@local.test",
             "--helo", "client.test", "--body", "swaks over tls"])
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out + p.stderr.decode(errors="replace")
    assert re.search(r"<-\s+220 2\.0\.0 Ready to start TLS", out), out
    assert re.search(r"TLS started with cipher TLSv1\.[23]", out), out
    assert s.wait_count("alice@local.test", 1) == 1


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1,
                                     ssl.TLSVersion.TLSv1_1])
def test_old_tls_versions_refused(tls_server, version):
    s = tls_server
    # implicit TLS
    raw = socket.create_connection(("127.0.0.1", s.submissions_port), 10)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        old_ctx(version).wrap_socket(raw)
    raw.close()
    # STARTTLS
    r = greet(s.smtp_port)
    assert r.cmd("STARTTLS")[0] == 220
    with pytest.raises((ssl.SSLError, ConnectionError)):
        old_ctx(version).wrap_socket(r.sock)
    r.close()
    wait_log(s, r"tls handshake-failed proto=smtp .*(unsupported protocol|"
             r"version)")
    # the same client code with TLS 1.2 allowed gets through
    raw = socket.create_connection(("127.0.0.1", s.submissions_port), 10)
    tls = old_ctx(ssl.TLSVersion.TLSv1_2).wrap_socket(raw)
    assert tls.version() == "TLSv1.2"
    assert tls.recv(512).startswith(b"220 ")
    tls.close()


def test_openssl_s_client_tls11_refused(tls_server):
    out = s_client(["-connect", "127.0.0.1:%d" % tls_server.submissions_port,
                    "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"], b"QUIT\n")
    assert "220 mail.local.test" not in out, out
    assert re.search(r"alert|error|no protocols", out, re.I), out


def read_reply(f):
    lines = []
    while True:
        ln = f.readline()
        if not ln:
            raise EOFError(b"".join(lines))
        lines.append(ln)
        if ln[3:4] != b"-":
            return int(ln[:3]), lines


def test_starttls_injection_discarded(tls_server):
    """CVE-2011-0411: commands pipelined behind STARTTLS in plaintext are
    discarded, never executed after the handshake."""
    s = tls_server
    r = greet(s.smtp_port)
    r.send(b"STARTTLS\r\nRSET\r\n")
    code, _ = r.reply()
    assert code == 220
    assert r.buf == b""
    tls = client_ctx().wrap_socket(r.sock)
    # no reply to the injected RSET may arrive
    tls.settimeout(1.0)
    with pytest.raises(socket.timeout):
        data = tls.recv(512)
        raise AssertionError("unexpected reply after STARTTLS: %r" % data)
    tls.settimeout(10)
    f = tls.makefile("rb")
    # the session is fresh: MAIL before EHLO is out of sequence
    tls.sendall(b"MAIL FROM:<sender@remote.test>\r\n")
    code, _ = read_reply(f)
    assert code == 503
    tls.sendall(b"EHLO client.test\r\n")
    code, lines = read_reply(f)
    assert code == 250 and not any(b"STARTTLS" in ln for ln in lines)
    tls.sendall(b"QUIT\r\n")
    assert read_reply(f)[0] == 221
    tls.close()
    wait_log(s, r"smtp starttls-pipelined .* bytes=6 ")


def partial_client_hello():
    """The first bytes of a real ClientHello (a client that stops)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = out.read()
    assert len(hello) > 100
    return hello[:len(hello) // 2]


def test_failed_handshakes_do_not_disturb_others(tls_server):
    s = tls_server
    # two live sessions: plaintext on 25, TLS on 465
    plain = greet(s.smtp_port)
    tls = client_ctx().wrap_socket(
        socket.create_connection(("127.0.0.1", s.submissions_port), 10))
    tf = tls.makefile("rb")
    assert read_reply(tf)[0] == 220

    # 465: half a ClientHello, then close
    c = socket.create_connection(("127.0.0.1", s.submissions_port), 10)
    c.sendall(partial_client_hello())
    c.close()
    # 465: garbage instead of a ClientHello
    c = socket.create_connection(("127.0.0.1", s.submissions_port), 10)
    c.sendall(b"EHLO i-forgot-tls\r\n" * 20)
    c.settimeout(10)
    try:
        while c.recv(4096):
            pass
    except ConnectionError:
        pass
    c.close()
    # 25: STARTTLS, then garbage
    r = greet(s.smtp_port)
    assert r.cmd("STARTTLS")[0] == 220
    r.send(b"\x16\x03\x01\x00\x05hello-not-tls" * 10)
    assert r.closed()
    r.close()
    # 587: STARTTLS, then the client disappears mid-handshake
    r = greet(s.submission_port)
    assert r.cmd("STARTTLS")[0] == 220
    r.send(partial_client_hello())
    r.close()

    wait_log(s, r"tls handshake-failed proto=smtp .*(unexpected eof|peer closed)")
    assert len(re.findall(r"tls handshake-failed", s.read_log())) >= 3

    # the other sessions are unaffected
    assert plain.cmd("NOOP")[0] == 250
    tls.sendall(b"EHLO client.test\r\n")
    assert read_reply(tf)[0] == 250
    tls.sendall(b"NOOP\r\n")
    assert read_reply(tf)[0] == 250
    tls.sendall(b"QUIT\r\n")
    assert read_reply(tf)[0] == 221
    tls.close()
    assert plain.cmd("QUIT")[0] == 221
    plain.close()
    # and new ones still work
    with smtplib.SMTP_SSL("127.0.0.1", s.submissions_port,
                          context=client_ctx(s)) as c:
        assert c.ehlo("client.test")[0] == 250


def make_cert(server, cn):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn,
         "-keyout", server.key + ".new", "-out", server.cert + ".new"],
        check=True, capture_output=True)
    # replace the key first: a reload in between fails and keeps the old
    os.replace(server.key + ".new", server.key)
    os.replace(server.cert + ".new", server.cert)


def peer_cert(port, starttls):
    raw = socket.create_connection(("127.0.0.1", port), 10)
    if starttls:
        r = Raw.__new__(Raw)
        r.sock, r.buf = raw, b""
        assert r.reply()[0] == 220
        assert r.cmd("EHLO client.test")[0] == 250
        assert r.cmd("STARTTLS")[0] == 220
    tls = client_ctx().wrap_socket(raw)
    der = tls.getpeercert(binary_form=True)
    tls.close()
    return der


def test_sighup_reloads_certificate(tls_server):
    s = tls_server
    before_465 = peer_cert(s.submissions_port, False)
    before_25 = peer_cert(s.smtp_port, True)
    assert before_465 == before_25

    # an open TLS session from before the reload
    old = smtplib.SMTP("127.0.0.1", s.smtp_port)
    old.ehlo("client.test")
    old.starttls(context=client_ctx())
    old_der = old.sock.getpeercert(binary_form=True)
    assert old_der == before_25
    old.ehlo("client.test")

    make_cert(s, "reloaded.local.test")
    s.proc.send_signal(signal.SIGHUP)
    wait_log(s, r"tls reloaded")

    after_465 = peer_cert(s.submissions_port, False)
    after_25 = peer_cert(s.smtp_port, True)
    assert after_465 != before_465
    assert after_465 == after_25
    pem = open(s.cert).read()
    assert ssl.DER_cert_to_PEM_cert(after_465).split() == pem.split()

    # the old session keeps working on its old certificate
    assert old.noop()[0] == 250
    old.sendmail("sender@remote.test", ["alice@local.test"], MSG)
    old.quit()
    assert s.wait_count("alice@local.test", 1) == 1

    # a broken certificate on reload: the current one stays
    open(s.cert, "w").write("not a certificate\n")
    s.proc.send_signal(signal.SIGHUP)
    wait_log(s, r"tls reload failed, keeping the old certificate")
    assert peer_cert(s.submissions_port, False) == after_465


def test_submissions_needs_a_certificate(make_server):
    s = make_server()
    s.set_listen("submissions", "127.0.0.1:%d" % free_port())
    s.set_option("tls", "cert", "")
    s.set_option("tls", "key", "")
    with pytest.raises(AssertionError, match="submissions needs"):
        s.start()
    # it exited on its own: nothing for the fixture to stop
    assert s.proc.returncode != 0
    s.proc = None
    s.log.close()


def test_no_certificate_no_starttls(make_server):
    s = make_server()
    s.set_option("tls", "cert", "")
    s.set_option("tls", "key", "")
    s.start()
    with smtplib.SMTP("127.0.0.1", s.smtp_port) as c:
        c.ehlo("client.test")
        assert not c.has_extn("starttls")


def test_submission_587_auth_delivers_with_esmtpsa(tls_server):
    s = tls_server
    with smtplib.SMTP("127.0.0.1", s.submission_port) as c:
        c.ehlo("client.test")
        c.starttls(context=client_ctx(s))
        c.ehlo("client.test")
        assert "PLAIN" in c.esmtp_features["auth"].split()
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.login("alice@local.test", "wrong-pw")
        assert e.value.smtp_code == 535
        code, _ = c.login("alice@local.test", "secret-pw")
        assert code == 235
        c.sendmail("alice@local.test", ["alice@local.test"],
                   b"From: alice@local.test\r\nSubject: sub\r\n\r\nhi\r\n")
    assert s.wait_count("alice@local.test", 1) == 1
    raw = s.message("alice@local.test", 1)
    # RFC 3848: ESMTPSA = ESMTP + TLS + AUTH
    assert re.search(rb"with ESMTPSA \(TLSv1\.[23] [A-Z0-9_-]+\) id ", raw), raw


def test_submissions_465_auth(tls_server):
    s = tls_server
    with smtplib.SMTP_SSL("127.0.0.1", s.submissions_port,
                          context=client_ctx(s)) as c:
        c.ehlo("client.test")
        # TLS 1.3: channel binding (tls-exporter) makes -PLUS available
        assert c.sock.version() == "TLSv1.3"
        assert "SCRAM-SHA-256-PLUS" in c.esmtp_features["auth"].split()
        assert c.login("alice@local.test", "secret-pw")[0] == 235
        # authenticated: other domains are allowed (no 554 relay denied)
        code, _ = c.mail("alice@local.test")
        assert code == 250
        code, _ = c.rcpt("someone@elsewhere.example")
        assert code == 250
        c.rset()


def test_smtp_25_offers_no_auth(tls_server):
    with smtplib.SMTP("127.0.0.1", tls_server.smtp_port) as c:
        c.ehlo("client.test")
        c.starttls(context=client_ctx())
        c.ehlo("client.test")
        assert not c.has_extn("auth")
        # and relaying stays closed
        c.mail("sender@remote.test")
        code, _ = c.rcpt("someone@elsewhere.example")
        assert code == 554


def test_password_change_applies_at_once(tls_server):
    """The server remembers accepted logins (smtp_auth.c); a new password
    must still replace the old one at once."""
    s = tls_server

    def login(pw):
        with smtplib.SMTP_SSL("127.0.0.1", s.submissions_port,
                              context=client_ctx(s)) as c:
            c.ehlo("client.test")
            try:
                return c.login("alice@local.test", pw)[0]
            except smtplib.SMTPAuthenticationError as e:
                return e.smtp_code

    assert login("secret-pw") == 235
    assert login("secret-pw") == 235      # from the cache
    s.cli("user", "passwd", "alice@local.test", stdin=b"new-pw\n")
    assert login("secret-pw") == 535
    assert login("new-pw") == 235
    assert login("wrong") == 535


def test_handshake_timeout(make_server):
    """A client that never sends its ClientHello is dropped after
    [tls] handshake_timeout, on 465 and after STARTTLS."""
    s = make_server(extra=[("tls", "handshake_timeout", "1s")])
    s.submissions_port = free_port()
    s.set_listen("submissions", "127.0.0.1:%d" % s.submissions_port)
    s.start()
    t0 = time.time()
    idle = socket.create_connection(("127.0.0.1", s.submissions_port), 10)
    r = greet(s.smtp_port)
    assert r.cmd("STARTTLS")[0] == 220
    idle.settimeout(10)
    assert idle.recv(100) == b""          # closed, nothing sent
    assert r.closed(10)
    assert time.time() - t0 < 8
    idle.close()
    r.close()
    wait_log(s, r"tls handshake-failed .*reason=\"handshake timeout\"")
    assert len(re.findall(r"handshake timeout", s.read_log())) == 2
