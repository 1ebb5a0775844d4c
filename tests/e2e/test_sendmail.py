"""End-to-end: `postino sendmail`, local submission as sendmail(8) does it.

The message is read on stdin, put into the spool with queue_inject() and
the running server is told with SIGUSR1; local recipients then find it in
their INBOX. Exit statuses follow sysexits.h.
"""
import email
import email.policy
import os
import pwd
import re

EX_USAGE, EX_DATAERR, EX_TEMPFAIL = 64, 65, 75


def sendmail(s, *args, stdin=b"", check=True):
    return s.cli("sendmail", *args, stdin=stdin, check=check)


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_argument_recipients_and_added_fields(server):
    p = sendmail(server, "alice@local.test", "bob@local.test",
                 stdin=b"Subject: from cron\n\nline one\nline two\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"" and p.stderr == b""
    assert server.wait_count("alice@local.test", 1) == 1
    assert server.wait_count("bob@local.test", 1) == 1
    raw = server.messages("alice@local.test")[0]
    # LF became CRLF, no bare LF anywhere
    assert b"line one\r\nline two\r\n" in raw
    assert re.search(rb"(?<!\r)\n", raw) is None
    msg = parse(raw)
    user = pwd.getpwuid(os.getuid()).pw_name
    assert msg["Subject"] == "from cron"
    # RFC 6409 section 8: From, Date and Message-ID completed
    assert msg["From"].addresses[0].addr_spec == "%s@mail.local.test" % user
    assert msg["Date"].datetime is not None
    assert msg["Message-ID"].endswith("@mail.local.test>")
    received = msg.get_all("Received")
    assert any("by mail.local.test (postino, from userid %d)" % os.getuid() in r
               for r in received)
    # two recipients: the trace field names neither
    assert not any("for <" in r and "(postino, from userid" in r for r in received)
    assert msg["Return-Path"] == "<%s@mail.local.test>" % user


def test_existing_fields_kept(server):
    body = (b"From: Someone <someone@local.test>\n"
            b"Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
            b"Message-ID: <fixed-id@local.test>\n"
            b"Subject: kept\n\nbody\n")
    sendmail(server, "-f", "someone@local.test", "alice@local.test", stdin=body)
    assert server.wait_count("alice@local.test", 1) == 1
    raw = server.messages("alice@local.test")[0]
    assert b"\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n" in raw
    msg = parse(raw)
    assert msg["Message-ID"] == "<fixed-id@local.test>"
    assert len(msg.get_all("Date")) == 1
    assert len(msg.get_all("From")) == 1
    assert len(msg.get_all("Message-ID")) == 1
    assert msg["Return-Path"] == "<someone@local.test>"
    received = [r for r in msg.get_all("Received") if "(postino, from userid" in r]
    assert len(received) == 1 and "for <alice@local.test>" in received[0]


def test_dash_t_bcc_removed(server):
    body = (b"To: Alice <alice@local.test>\n"
            b"Bcc: bob@local.test\n"
            b"Subject: secret copy\n\nhello\n")
    sendmail(server, "-t", "-F", "The Sender", "-f", "sender@local.test", stdin=body)
    assert server.wait_count("alice@local.test", 1) == 1
    assert server.wait_count("bob@local.test", 1) == 1
    for who in ("alice@local.test", "bob@local.test"):
        raw = server.messages(who)[0]
        assert b"Bcc" not in raw and b"bcc:" not in raw.lower()
        msg = parse(raw)
        assert msg["Subject"] == "secret copy"
        assert msg["From"].addresses[0].display_name == "The Sender"
        assert msg["From"].addresses[0].addr_spec == "sender@local.test"


def test_sender_forms(server):
    sendmail(server, "-f", "<someone@local.test>", "alice@local.test", stdin=b"x\n")
    sendmail(server, "-fother@local.test", "alice@local.test", stdin=b"y\n")
    sendmail(server, "-f", "<>", "alice@local.test", stdin=b"z\n")
    assert server.wait_count("alice@local.test", 3) == 3
    paths = sorted(parse(m)["Return-Path"] for m in server.messages("alice@local.test"))
    assert paths == ["<>", "<other@local.test>", "<someone@local.test>"]
    for m in server.messages("alice@local.test"):
        if parse(m)["Return-Path"] == "<>":
            assert parse(m)["From"].addresses[0].addr_spec == "MAILER-DAEMON@mail.local.test"


def test_dash_t_adds_arguments(server):
    body = b"To: alice@local.test\nSubject: both\n\nx\n"
    sendmail(server, "-t", "bob@local.test", stdin=body)
    assert server.wait_count("alice@local.test", 1) == 1
    assert server.wait_count("bob@local.test", 1) == 1


def test_dot_ends_input_without_i(server):
    body = b"Subject: dots\n\nbefore\n..still body\n.\nafter the dot\n"
    sendmail(server, "alice@local.test", stdin=body)
    assert server.wait_count("alice@local.test", 1) == 1
    raw = server.messages("alice@local.test")[0]
    assert b"before\r\n..still body\r\n" in raw   # no dot-unstuffing
    assert b"after the dot" not in raw

    for flag in ("-i", "-oi"):
        sendmail(server, flag, "bob@local.test", stdin=body)
    assert server.wait_count("bob@local.test", 2) == 2
    for raw in server.messages("bob@local.test"):
        assert b"before\r\n..still body\r\n.\r\nafter the dot\r\n" in raw


def test_mbox_from_line_dropped(server):
    body = b"From someone@local.test Mon Jan  1 10:00:00 2024\nSubject: mbox\n\nx\n"
    sendmail(server, "alice@local.test", stdin=body)
    assert server.wait_count("alice@local.test", 1) == 1
    raw = server.messages("alice@local.test")[0]
    assert b"From someone@local.test Mon" not in raw
    assert parse(raw)["Subject"] == "mbox"


def test_no_header_and_no_final_newline(server):
    sendmail(server, "alice@local.test", stdin=b"just a body line, no header")
    assert server.wait_count("alice@local.test", 1) == 1
    raw = server.messages("alice@local.test")[0]
    assert raw.endswith(b"\r\n\r\njust a body line, no header\r\n")
    assert parse(raw)["Message-ID"] is not None


def test_bad_addresses_and_missing_recipients(make_server):
    s = make_server()
    p = sendmail(s, "not an address", stdin=b"x\n", check=False)
    assert p.returncode == EX_DATAERR and b"bad recipient" in p.stderr
    p = sendmail(s, "bob", stdin=b"x\n", check=False)
    assert p.returncode == EX_DATAERR and b"needs a domain" in p.stderr
    p = sendmail(s, "a@b@c.test", stdin=b"x\n", check=False)
    assert p.returncode == EX_DATAERR
    p = sendmail(s, "-f", "bad sender@", "alice@local.test", stdin=b"x\n", check=False)
    assert p.returncode == EX_DATAERR and b"bad sender" in p.stderr
    p = sendmail(s, stdin=b"Subject: x\n\nx\n", check=False)
    assert p.returncode == EX_USAGE and b"no recipients" in p.stderr
    p = sendmail(s, "-t", stdin=b"Subject: nobody\n\nx\n", check=False)
    assert p.returncode == EX_DATAERR and b"no recipient" in p.stderr
    p = sendmail(s, "-t", stdin=b"To: bob\n\nx\n", check=False)
    assert p.returncode == EX_DATAERR
    p = sendmail(s, "-q", "alice@local.test", stdin=b"x\n", check=False)
    assert p.returncode == EX_USAGE
    # nothing was queued by any of these
    assert "queue is empty" in s.queue_list()


def test_limits(make_server):
    s = make_server(extra=[("smtp", "max_message_size", "4K")])
    ok = b"a" * 998 + b"\n"
    p = sendmail(s, "alice@local.test", stdin=b"Subject: long\n\n" + ok)
    assert p.returncode == 0
    p = sendmail(s, "alice@local.test", stdin=b"Subject: long\n\n" + b"a" + ok, check=False)
    assert p.returncode == EX_DATAERR and b"longer than 998" in p.stderr
    p = sendmail(s, "alice@local.test", stdin=b"Subject: big\n\n" + b"x" * 80 + b"\n" * 0 +
                 (b"y" * 70 + b"\n") * 80, check=False)
    assert p.returncode == EX_DATAERR and b"max_message_size" in p.stderr
    hops = b"".join(b"Received: from hop%d.test by x.test; Mon, 1 Jan 2024 10:00:00 +0000\n" % i
                    for i in range(50))
    p = sendmail(s, "alice@local.test", stdin=hops + b"Subject: loop\n\nx\n", check=False)
    assert p.returncode == EX_DATAERR and b"mail loop" in p.stderr
    p = sendmail(s, "alice@local.test", stdin=hops[hops.index(b"\n") + 1:] + b"\nx\n")
    assert p.returncode == 0
    many = ",".join("u%d@local.test" % i for i in range(1001))
    p = sendmail(s, many, stdin=b"x\n", check=False)
    assert p.returncode == EX_DATAERR and b"too many recipients" in p.stderr
    listing = s.queue_list()
    assert listing.count("<alice@local.test>") == 2


def test_remote_recipient_in_queue_list(make_server):
    s = make_server()
    p = sendmail(s, "-f", "alice@local.test", "Someone <someone@remote.example>",
                 stdin=b"Subject: out\n\nto the world\n")
    assert p.returncode == 0
    listing = s.queue_list()
    assert "<alice@local.test>" in listing
    assert "<someone@remote.example>" in listing


def test_queue_not_writable(make_server):
    s = make_server()
    s.set_option("server", "data_dir", "/proc/postino-no-such-dir")
    p = sendmail(s, "alice@local.test", stdin=b"x\n", check=False)
    assert p.returncode == EX_TEMPFAIL
    assert b"cannot put the message into the queue" in p.stderr
