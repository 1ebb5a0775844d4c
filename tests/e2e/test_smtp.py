"""End-to-end: the SMTP server on the smtp listener, with real clients."""
import os
import re
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from smtpraw import Raw, greet

MSG = (b"From: Sender <sender@remote.test>\r\n"
       b"To: Alice <alice@local.test>\r\n"
       b"Subject: hello\r\n"
       b"Message-ID: <m1@remote.test>\r\n"
       b"\r\n"
       b"Line one\r\n"
       b".leading dot\r\n"
       b"..two dots\r\n"
       b"last line\r\n")


def strip_trace(raw):
    """The stored message minus the headers postino prepends."""
    lines = raw.split(b"\r\n")
    assert lines[0] == b"Return-Path: <sender@remote.test>" or lines[0].startswith(b"Return-Path: <")
    assert lines[1].startswith(b"Delivered-To: ")
    assert lines[2].startswith(b"Received: from ")
    i = 3
    while lines[i].startswith((b" ", b"\t")):
        i += 1
    return b"\r\n".join(lines[i:])


def test_greeting_and_ehlo(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        code, banner = c.ehlo("client.test")
        assert code == 250
        assert c.does_esmtp
        for ext in ("pipelining", "size", "8bitmime", "smtputf8",
                    "enhancedstatuscodes"):
            assert c.has_extn(ext), ext
        assert int(c.esmtp_features["size"]) == 50 * 1024 * 1024
    r = Raw(server.smtp_port)
    code, text = r.reply()
    assert code == 220 and text[0].startswith("mail.local.test")
    code, text = r.cmd("HELO client.test")
    assert code == 250
    r.close()


def test_deliver_byte_exact(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        c.ehlo("client.test")
        c.sendmail("sender@remote.test", ["alice@local.test"], MSG)
    assert server.wait_count("alice@local.test", 1) == 1
    raw = server.message("alice@local.test", 1)
    assert strip_trace(raw) == MSG
    head = raw.split(b"\r\n\r\n")[0].decode()
    assert "Return-Path: <sender@remote.test>" in head
    assert "Delivered-To: alice@local.test" in head
    rec = re.search(r"Received: from client\.test \(.*\[127\.0\.0\.1\]\)\r\n\s+by mail\.local\.test", head)
    assert rec, head
    assert "for <alice@local.test>" in head


def test_several_messages_one_connection(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        for i in range(5):
            body = MSG.replace(b"hello", b"hello %d" % i)
            c.sendmail("sender@remote.test", ["alice@local.test", "bob@local.test"], body)
        c.rset()
        c.noop()
    assert server.wait_count("alice@local.test", 5) == 5
    assert server.wait_count("bob@local.test", 5) == 5
    subjects = [re.search(rb"Subject: (.*?)\r\n", m).group(1) for m in server.messages("bob@local.test")]
    assert subjects == [b"hello %d" % i for i in range(5)]


def test_null_sender_and_postmaster(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        c.ehlo("client.test")
        c.sendmail("<>", ["postmaster@local.test"], MSG)
        # RFC 5321 4.5.1: a bare "Postmaster" without a domain is accepted
        code, _ = c.mail("")
        assert code == 250
        code, _ = c.rcpt("<Postmaster>")
        assert code == 250
        c.rset()
    # postmaster goes to the first user created: alice
    assert server.wait_count("alice@local.test", 1) == 1
    assert server.message("alice@local.test", 1).startswith(b"Return-Path: <>\r\n")


def test_relay_denied_and_unknown_user(server):
    r = greet(server.smtp_port)
    assert r.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
    code, text = r.cmd("RCPT TO:<someone@elsewhere.test>")
    assert code in (550, 554) and text[0].startswith("5.7.1"), (code, text)
    code, text = r.cmd("RCPT TO:<nobody@local.test>")
    assert code == 550 and text[0].startswith("5.1.1")
    # the old relay tricks: never accepted for a remote destination
    for trick in ("<alice%elsewhere.test@local.test>",
                  "<elsewhere.test!alice@local.test>",
                  "<@local.test:alice@elsewhere.test>",
                  '<"alice@elsewhere.test"@local.test>',
                  "<alice@elsewhere.test@local.test>"):
        code, text = r.cmd("RCPT TO:" + trick)
        assert code >= 500, (trick, code, text)
    # a source route to a local user is accepted (and ignored)
    assert r.cmd("RCPT TO:<@relay.test:alice@local.test>")[0] == 250
    r.cmd("QUIT")
    r.close()


def test_commands_and_sequencing(server):
    r = Raw(server.smtp_port)
    r.reply()
    assert r.cmd("MAIL FROM:<a@remote.test>")[0] == 503       # before HELO
    assert r.cmd("EHLO client.test")[0] == 250
    assert r.cmd("RCPT TO:<alice@local.test>")[0] == 503      # before MAIL
    assert r.cmd("DATA")[0] == 503
    code, text = r.cmd("VRFY alice@local.test")
    assert code == 252 and text[0].startswith("2.")
    code, text = r.cmd("EXPN staff")
    assert code == 502 and text[0].startswith("5.")
    code, text = r.cmd("HELP")
    assert code == 214
    for old in ("SEND FROM:<a@remote.test>", "SOML FROM:<a@remote.test>",
                "SAML FROM:<a@remote.test>", "TURN"):
        code, text = r.cmd(old)
        assert code == 502 and text[0].startswith("5.5.1"), (old, code, text)
    code, text = r.cmd("FROBNICATE")
    assert code == 500 and text[0].startswith("5.5.")
    code, text = r.cmd("MAIL FROM:alice@local.test")           # no brackets
    assert code == 501
    assert r.cmd("NOOP")[0] == 250
    assert r.cmd("MAIL FROM:<a@remote.test> SIZE=1000 BODY=8BITMIME")[0] == 250
    assert r.cmd("MAIL FROM:<a@remote.test>")[0] == 503        # nested MAIL
    assert r.cmd("RSET")[0] == 250
    code, text = r.cmd("MAIL FROM:<a@remote.test> FOO=BAR")
    assert code == 555
    code, text = r.cmd("MAIL FROM:<a@remote.test> SIZE=999999999999")
    assert code == 552 and text[0].startswith("5.3.4")
    assert r.cmd("MAIL FROM:<a@remote.test>")[0] == 250
    code, text = r.cmd("DATA")                                 # no RCPT yet
    assert code in (503, 554)
    code, text = r.cmd("QUIT")
    assert code == 221
    assert r.closed()


def test_enhanced_codes_everywhere(server):
    r = greet(server.smtp_port)
    for line in ("NOOP", "MAIL FROM:<a@remote.test>", "RCPT TO:<alice@local.test>",
                 "RSET", "VRFY x", "BOGUS", "RCPT TO:<alice@local.test>"):
        code, text = r.cmd(line)
        assert re.match(r"^[245]\.\d{1,3}\.\d{1,3} ", text[-1]), (line, code, text)
    r.close()


def test_pipelining_in_one_packet(server):
    r = greet(server.smtp_port)
    batch = ("MAIL FROM:<sender@remote.test>\r\n"
             "RCPT TO:<alice@local.test>\r\n"
             "RCPT TO:<nobody@local.test>\r\n"
             "RCPT TO:<bob@local.test>\r\n"
             "DATA\r\n")
    r.send(batch)
    assert r.reply()[0] == 250
    assert r.reply()[0] == 250
    assert r.reply()[0] == 550
    assert r.reply()[0] == 250
    assert r.reply()[0] == 354
    # message, second transaction and QUIT in one write
    r.send(MSG + b".\r\n"
           b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<bob@local.test>\r\nDATA\r\n")
    assert r.reply()[0] == 250
    assert r.reply()[0] == 250
    assert r.reply()[0] == 250
    assert r.reply()[0] == 354
    r.send(MSG + b".\r\nQUIT\r\n")
    assert r.reply()[0] == 250
    assert r.reply()[0] == 221
    r.close()
    assert server.wait_count("alice@local.test", 1) == 1
    assert server.wait_count("bob@local.test", 2) == 2


def test_many_pipelined_transactions(server):
    r = greet(server.smtp_port)
    n = 50
    data = b""
    for i in range(n):
        data += (b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<bob@local.test>\r\nDATA\r\n"
                 + MSG.replace(b"hello", b"pipe %d" % i) + b".\r\n")
    data += b"QUIT\r\n"
    r.send(data)
    for i in range(n):
        assert [r.reply()[0] for _ in range(4)] == [250, 250, 354, 250], i
    assert r.reply()[0] == 221
    r.close()
    assert server.wait_count("bob@local.test", n) == n
    subjects = [re.search(rb"Subject: (.*?)\r\n", m).group(1) for m in server.messages("bob@local.test")]
    assert subjects == [b"pipe %d" % i for i in range(n)]


@pytest.mark.parametrize("smuggle", [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\n", b"\n.\r"])
def test_smuggling_is_impossible(server, smuggle):
    r = greet(server.smtp_port)
    r.send("MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@local.test>\r\nDATA\r\n")
    assert [r.reply()[0] for _ in range(3)] == [250, 250, 354]
    payload = (b"Subject: smuggle\r\n\r\nbody" + smuggle +
               b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@local.test>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
    r.send(payload)
    code, text = r.reply()
    # the whole thing is one message: rejected (our policy), never split
    assert code >= 500, (code, text)
    assert r.cmd("NOOP")[0] == 250      # and nothing else was executed
    r.cmd("QUIT")
    r.close()
    time.sleep(0.3)
    assert server.mailbox_counts("bob@local.test")["INBOX"] == 0
    assert server.mailbox_counts("alice@local.test")["INBOX"] == 0


def test_nul_in_command(server):
    r = greet(server.smtp_port)
    code, text = r.cmd("NOOP\0 x")
    assert code == 500
    assert r.cmd("NOOP")[0] == 250
    r.close()


def test_line_length_limits(server):
    r = greet(server.smtp_port)
    code, text = r.cmd("NOOP " + "x" * 5000)
    assert code == 500 and text[0].startswith("5.5.6"), (code, text)
    assert r.cmd("NOOP")[0] == 250                 # still in sync
    r.send("MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@local.test>\r\nDATA\r\n")
    assert [r.reply()[0] for _ in range(3)] == [250, 250, 354]
    r.send(b"Subject: long\r\n\r\n" + b"y" * 998 + b"\r\n" + b"z" * 999 + b"\r\n.\r\n")
    code, text = r.reply()
    assert code in (552, 554, 500), (code, text)
    # a line of exactly 998 characters is fine
    r.send("MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@local.test>\r\nDATA\r\n")
    assert [r.reply()[0] for _ in range(3)] == [250, 250, 354]
    r.send(b"Subject: ok\r\n\r\n" + b"y" * 998 + b"\r\n.\r\n")
    assert r.reply()[0] == 250
    r.close()
    assert server.wait_count("alice@local.test", 1) == 1


def test_recipient_limit(server):
    server.add_alias("list@local.test", "alice@local.test")
    r = greet(server.smtp_port)
    assert r.cmd("MAIL FROM:<s@remote.test>")[0] == 250
    for i in range(100):
        assert r.cmd("RCPT TO:<list+%d@local.test>" % i)[0] == 250, i
    code, text = r.cmd("RCPT TO:<alice@local.test>")
    assert code == 452 and text[0].startswith("4.5.3"), (code, text)
    r.close()


def test_message_size_limit(make_server):
    s = make_server(extra=[("smtp", "max_message_size", "10K")])
    s.add_user("alice@local.test")
    s.start()
    with smtplib.SMTP("127.0.0.1", s.smtp_port) as c:
        c.ehlo("client.test")
        assert int(c.esmtp_features["size"]) == 10240
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail("s@remote.test", ["alice@local.test"], b"Subject: big\r\n\r\n" + b"x" * 20000)
        assert e.value.smtp_code == 552
        c.rset()
        # without SIZE= the data phase catches it
        c.mail("s@remote.test")
        c.rcpt("alice@local.test")
        code, text = c.data(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 300)
        assert code == 552 and text.startswith(b"5.3.4"), (code, text)
        c.sendmail("s@remote.test", ["alice@local.test"], b"Subject: small\r\n\r\nok\r\n")
    assert s.wait_count("alice@local.test", 1) == 1


def test_idle_timeout(make_server):
    s = make_server(extra=[("smtp", "idle_timeout", "1s")])
    s.add_user("alice@local.test")
    s.start()
    r = greet(s.smtp_port)
    time.sleep(1.5)
    code, text = r.reply()
    assert code == 421 and text[0].startswith("4.4.2"), (code, text)
    assert r.closed()


def test_connection_limits(make_server):
    s = make_server(extra=[("smtp", "max_connections_per_ip", "3")])
    s.add_user("alice@local.test")
    s.start()
    conns = [greet(s.smtp_port) for _ in range(3)]
    extra = Raw(s.smtp_port)
    code, text = extra.reply()
    assert code == 421
    assert extra.closed()
    conns[0].cmd("QUIT")
    conns[0].close()
    time.sleep(0.2)
    again = Raw(s.smtp_port)
    assert again.reply()[0] == 220
    for c in conns[1:] + [again]:
        c.close()


def test_too_many_errors(server):
    r = greet(server.smtp_port)
    codes = []
    for i in range(25):
        codes.append(r.cmd("BOGUS%d" % i)[0])
        if codes[-1] == 421:
            break
    # [smtp] max_errors = 20 by default: the 21st error is answered,
    # then 421 follows and the connection closes
    assert codes == [500] * 21 + [421], codes
    assert r.closed()


def test_loop_detection(server):
    hops = b"".join(b"Received: from hop%d.test by hop%d.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n" % (i, i)
                    for i in range(60))
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        c.ehlo("client.test")
        c.mail("s@remote.test")
        c.rcpt("alice@local.test")
        code, text = c.data(hops + b"Subject: loop\r\n\r\nbody\r\n")
        assert code == 554 and text.startswith(b"5.4.6"), (code, text)


def test_aliases(server):
    server.add_user("carol@local.test")
    server.add_alias("team@local.test", "alice@local.test", "bob@local.test")   # one-to-many
    server.add_alias("sales@local.test", "carol@local.test")                   # many-to-one
    server.add_alias("info@local.test", "carol@local.test")
    server.add_alias("all@local.test", "team@local.test", "sales@local.test")  # nested
    server.add_alias("loop1@local.test", "loop2@local.test")
    server.add_alias("loop2@local.test", "loop1@local.test")
    server.cli("domain", "add", "other.test")
    server.add_alias("@other.test", "bob@local.test")                         # catch-all
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        c.sendmail("s@remote.test", ["team@local.test"], b"Subject: team\r\n\r\nx\r\n")
        c.sendmail("s@remote.test", ["sales@local.test", "info@local.test"], b"Subject: sales\r\n\r\nx\r\n")
        c.sendmail("s@remote.test", ["all@local.test"], b"Subject: all\r\n\r\nx\r\n")
        c.sendmail("s@remote.test", ["alice+news@local.test"], b"Subject: plus\r\n\r\nx\r\n")
        c.sendmail("s@remote.test", ["whoever@other.test"], b"Subject: catch\r\n\r\nx\r\n")
        c.mail("s@remote.test")
        code, _ = c.rcpt("loop1@local.test")
        assert code // 100 in (4, 5)
        c.rset()
    assert server.wait_count("alice@local.test", 3) == 3       # team, all, plus
    assert server.wait_count("bob@local.test", 3) == 3         # team, all, catch
    assert server.wait_count("carol@local.test", 2) == 2       # sales once (dedup), all
    subj = lambda a: sorted(re.search(rb"Subject: (\w+)", m).group(1) for m in server.messages(a))
    assert subj("alice@local.test") == [b"all", b"plus", b"team"]
    assert subj("bob@local.test") == [b"all", b"catch", b"team"]
    assert subj("carol@local.test") == [b"all", b"sales"]


def test_alias_to_remote_stays_queued(make_server):
    # no DNS server answers: remote recipients wait in the queue
    server = make_server(extra=[("dns", "servers", "127.0.0.1:9")])
    server.add_user("alice@local.test")
    server.start()
    server.add_alias("fwd@local.test", "alice@local.test", "friend@remote.test")
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        c.sendmail("s@remote.test", ["fwd@local.test"], b"Subject: fwd\r\n\r\nx\r\n")
    assert server.wait_count("alice@local.test", 1) == 1
    # the forwarded recipient stays queued, deferred, with the reason
    deadline = time.time() + 30
    while time.time() < deadline:
        q = server.queue_list()
        if "<friend@remote.test> deferred" in q:
            break
        time.sleep(0.2)
    assert "<friend@remote.test> deferred" in q, q
    assert "<s@remote.test>" in q
    assert "MX lookup for remote.test failed" in q, q
    assert server.mailbox_counts("alice@local.test")["INBOX"] == 1


def test_undeliverable_bounce_goes_to_postmaster(make_server):
    # a domain that does not exist: the bounce to the (remote) sender
    # fails too, and the double bounce ends at postmaster, never looping
    port = free_udp_port()
    dnsmasq = subprocess.Popen(["/usr/sbin/dnsmasq", "--keep-in-foreground",
                                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                                "--listen-address=127.0.0.1", "--bind-interfaces",
                                "--port=%d" % port, "--local=/invalid/",
                                "--pid-file="],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        server = make_server(extra=[("dns", "servers", "127.0.0.1:%d" % port)])
        server.add_user("alice@local.test")
        server.start()
        bounce_to_postmaster(server)
    finally:
        dnsmasq.terminate()
        dnsmasq.wait()


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bounce_to_postmaster(server):
    server.add_alias("fwd@local.test", "nobody@does-not-exist.invalid")
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        c.sendmail("s@sender.invalid", ["fwd@local.test"], b"Subject: fwd\r\n\r\nx\r\n")
    assert server.wait_count("alice@local.test", 1, timeout=30) == 1
    msg = server.message("alice@local.test", 1)
    assert msg.startswith(b"Return-Path: <>\r\n")
    assert b"multipart/report" in msg and b"report-type=delivery-status" in msg
    deadline = time.time() + 10
    while "queue is empty" not in server.queue_list() and time.time() < deadline:
        time.sleep(0.2)
    assert "queue is empty" in server.queue_list()
    time.sleep(1)
    assert server.mailbox_counts("alice@local.test")["INBOX"] == 1


def test_live_account_changes(server):
    r = greet(server.smtp_port)
    r.cmd("MAIL FROM:<s@remote.test>")
    assert r.cmd("RCPT TO:<dave@local.test>")[0] == 550
    server.add_user("dave@local.test")
    assert r.cmd("RCPT TO:<dave@local.test>")[0] == 250
    server.cli("domain", "add", "new.test")
    server.add_alias("x@new.test", "dave@local.test")
    assert r.cmd("RCPT TO:<x@new.test>")[0] == 250
    server.cli("user", "del", "dave@local.test")
    assert r.cmd("RCPT TO:<dave@local.test>")[0] == 550
    r.close()


def test_swaks(server):
    swaks = shutil.which("swaks")
    if swaks is None:
        pytest.fail("swaks is not installed (scripts/deps.sh installs it)")
    p = subprocess.run([swaks, "--server", "127.0.0.1", "--port", str(server.smtp_port),
                        "--from", "s@remote.test", "--to", "bob@local.test",
                        "--helo", "swaks.test", "--header", "Subject: from swaks",
                        "--body", "hello from swaks\n.dot line\n"],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    assert server.wait_count("bob@local.test", 1) == 1
    msg = server.message("bob@local.test", 1)
    assert b"Subject: from swaks\r\n" in msg
    assert b"\r\n.dot line\r\n" in msg


def test_expn_and_vrfy_when_enabled(make_server):
    s = make_server(extra=[("smtp", "expn", "yes"), ("smtp", "vrfy", "yes")])
    s.add_user("alice@local.test")
    s.add_user("bob@local.test")
    s.add_alias("staff@local.test", "alice@local.test", "bob@local.test", "ext@remote.test")
    s.start()
    r = greet(s.smtp_port)
    code, lines = r.cmd("EXPN staff@local.test")
    assert code == 250
    members = sorted(re.sub(r"^2\.1\.5 ", "", x) for x in lines)
    assert members == ["<alice@local.test>", "<bob@local.test>", "<ext@remote.test>"]
    code, lines = r.cmd("EXPN alice@local.test")
    assert code == 550
    code, lines = r.cmd("VRFY bob@local.test")
    assert code == 250
    code, lines = r.cmd("VRFY nobody@local.test")
    assert code == 550
    r.close()


MULTIPART = (b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@remote.test>\r\n"
             b"To: alice@local.test, Bob <bob@local.test>\r\n"
             b"Subject: report\r\n"
             b"Date: Mon, 2 Jan 2023 10:00:00 +0000\r\n"
             b"Message-ID: <mp1@remote.test>\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
             b"\r\n"
             b"--XX\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n"
             b"\r\n"
             b"hello\r\n"
             b"--XX\r\n"
             b"Content-Type: application/pdf; name=\"a.pdf\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n"
             b"Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
             b"\r\n"
             b"JVBERi0xLjQK\r\n"
             b"--XX--\r\n")


def test_imap_structure_cached_at_delivery(server):
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as c:
        c.sendmail("j@remote.test", ["alice@local.test"], MULTIPART)
    assert server.wait_count("alice@local.test", 1) == 1
    out = server.cli("mailbox", "show", "alice@local.test", "INBOX", "1").stdout.decode()
    lines = dict(l.split(" ", 1) for l in out.strip().split("\n"))
    env = lines["ENVELOPE"]
    assert env.startswith('("Mon, 2 Jan 2023 10:00:00 +0000" "report" ')
    assert '"<mp1@remote.test>")' in env
    assert '((NIL NIL "bob" "local.test"))' not in env      # display name kept
    assert '(("Bob" NIL "bob" "local.test"))' not in env    # two To addresses, one list
    assert '((NIL NIL "alice" "local.test")("Bob" NIL "bob" "local.test"))' in env
    bs = lines["BODYSTRUCTURE"]
    # the CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1)
    assert bs.startswith('(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 0')
    assert '("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 12' in bs
    assert '("attachment" ("filename" "a.pdf"))' in bs
    assert '"mixed" ("boundary" "XX")' in bs
    assert lines["BODY"] == ('(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 0)'
                             '("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 12) "mixed")')
