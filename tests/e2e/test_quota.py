"""Storage quota (RFC 9208 STORAGE) end to end: `postino user quota`, the
[store] quota default, RCPT TO answering 452 4.2.2 for a full mailbox, a
queued message deferred while it does not fit and delivered once the limit
is raised, and the 5.2.2 bounce at the end of the queue lifetime."""
import smtplib
import time

import pytest


def body(n, tag):
    """A message with about n bytes of body in lines of 70."""
    text = ("%s " % tag) * (n // (len(tag) + 1) + 1)
    lines = [text[i:i + 70] for i in range(0, n, 70)]
    return ("From: bob@local.test\r\nTo: alice@local.test\r\n"
            "Subject: %s\r\n\r\n%s\r\n" % (tag, "\r\n".join(lines)))


def send(srv, rcpt, msg, sender="bob@local.test"):
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        s.sendmail(sender, [rcpt], msg)


def quota(srv, address):
    """(limit, used bytes, messages) from `postino user quota ADDRESS`."""
    out = srv.cli("user", "quota", address).stdout.decode().split()
    return tuple(int(x) for x in out)


def wait_log(srv, needle, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if needle in srv.read_log():
            return True
        time.sleep(0.1)
    return False


def test_rcpt_452_deferral_and_raise(server):
    alice = "alice@local.test"
    assert quota(server, alice) == (0, 0, 0)
    send(server, alice, body(1000, "one"))
    send(server, alice, body(1000, "two"))
    assert server.wait_count(alice, 2) == 2
    limit, used, msgs = quota(server, alice)
    assert limit == 0 and msgs == 2 and used > 2000

    # room for less than one more message: accepted at RCPT (not full
    # yet), deferred by the local delivery, kept in the queue
    server.cli("user", "quota", alice, str(used + 10))
    assert quota(server, alice)[0] == used + 10
    send(server, alice, body(1000, "three"))
    assert wait_log(server, "reason=over-quota")
    time.sleep(1.5)
    assert server.mailbox_counts(alice)["INBOX"] == 2
    assert "alice@local.test" in server.queue_list()

    # full: RCPT TO answers 452 4.2.2, other recipients are not affected
    server.cli("user", "quota", alice, str(used))
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        s.mail("bob@local.test")
        code, text = s.rcpt(alice)
        assert code == 452, (code, text)
        assert text.startswith(b"4.2.2"), text
        assert b"full" in text.lower()
        code, text = s.rcpt("bob@local.test")
        assert code == 250
        s.rset()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        send(server, alice, body(100, "refused"))
    assert e.value.recipients[alice][0] == 452

    # the limit raised: the queued message goes in at its next retry
    server.cli("user", "quota", alice, "10M")
    assert server.wait_count(alice, 3, timeout=30) == 3
    subjects = [m.split(b"Subject: ")[1].split(b"\r\n")[0]
                for m in server.messages(alice)]
    assert subjects == [b"one", b"two", b"three"]
    send(server, alice, body(100, "four"))
    assert server.wait_count(alice, 4) == 4
    assert quota(server, alice)[2] == 4


def test_default_quota_and_user_override(make_server):
    srv = make_server(extra=[("store", "quota", "1K")])
    srv.add_user("alice@local.test")
    srv.add_user("bob@local.test")
    srv.start()
    # 2000 bytes do not fit the 1 KiB default: deferred, not delivered
    send(srv, "alice@local.test", body(2000, "big"))
    assert wait_log(srv, "reason=over-quota")
    assert srv.mailbox_counts("alice@local.test")["INBOX"] == 0
    # small mail still fits
    send(srv, "bob@local.test", body(100, "small"))
    assert srv.wait_count("bob@local.test", 1) == 1
    # the user's own limit overrides the default
    srv.cli("user", "quota", "alice@local.test", "1M")
    assert srv.wait_count("alice@local.test", 1, timeout=30) == 1


def test_bounce_5_2_2_at_lifetime(make_server):
    srv = make_server(extra=[("queue", "lifetime", "4s")])
    srv.add_user("alice@local.test")
    srv.add_user("bob@local.test")
    srv.cli("user", "quota", "alice@local.test", "500")
    srv.start()
    send(srv, "alice@local.test", body(2000, "toobig"))
    # retried while the lifetime lasts, then failed as 5.2.2: bob (the
    # sender) gets the bounce
    assert srv.wait_count("bob@local.test", 1, timeout=40) == 1
    dsn = srv.messages("bob@local.test")[0]
    assert b"Status: 5.2.2" in dsn, dsn[:3000]
    assert b"Mailbox full" in dsn
    assert srv.mailbox_counts("alice@local.test")["INBOX"] == 0
