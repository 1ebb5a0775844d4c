"""End-to-end: IMAP follow-ups of issue 7 against the real server.

- SCRAM-SHA-256 logins go through the login throttle shared with LOGIN,
  SMTP AUTH and POP3: failures are counted, answers come late, then the
  address is refused before the exchange starts (NO [UNAVAILABLE]).
- APPEND of a message with bare LF line ends stores CRLF: RFC822.SIZE,
  BODY[] and partial fetches agree (buffered and streamed literals).
- COPYUID and MODIFIED sets of any length: COPY of every other message
  of 2,000, STORE UNCHANGEDSINCE failing on 1,000 scattered messages.
- \\Recent for IMAP4rev1 clients: two imaplib sessions, SEARCH RECENT,
  FETCH FLAGS, STATUS RECENT.
"""
import base64
import hashlib
import hmac
import imaplib
import os
import re
import smtplib
import socket
import threading
import time

import pytest

from test_imap import (ALICE, PW, Raw, login, make_msg, ok, send,
                       setup_imap)


@pytest.fixture
def imap(make_server):
    return setup_imap(make_server()).start()


# ---- SCRAM and the login throttle ---------------------------------------

def scram(port, user, password, src="127.0.0.1"):
    """AUTHENTICATE SCRAM-SHA-256 (RFC 5802, RFC 7677, RFC 9051 6.2.2) on a
    fresh connection from the loopback address src.  Returns (tagged
    line, seconds from the command to the server-first challenge or to
    the refusal)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30,
                                 source_address=(src, 0))
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=%s,r=%s" % (user, cnonce)
    t = time.monotonic()
    s.sendall(b"a AUTHENTICATE SCRAM-SHA-256 " +
              base64.b64encode(("n,," + bare).encode()) + b"\r\n")
    line = f.readline()
    took = time.monotonic() - t
    if not line.startswith(b"+ "):
        s.close()
        return line.strip(), took
    sfirst = base64.b64decode(line[2:].strip()).decode()
    attrs = dict(kv.split("=", 1) for kv in sfirst.split(","))
    assert attrs["r"].startswith(cnonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                 base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(ckey).digest()
    final_wo = "c=biws,r=" + attrs["r"]
    authmsg = ",".join([bare, sfirst, final_wo]).encode()
    sig = hmac.new(stored, authmsg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    cfinal = final_wo + ",p=" + base64.b64encode(proof).decode()
    s.sendall(base64.b64encode(cfinal.encode()) + b"\r\n")
    line = f.readline()
    if line.startswith(b"+ "):
        # server-final: answered with an empty line
        s.sendall(b"\r\n")
        line = f.readline()
    s.close()
    return line.strip(), took


def test_scram_success_and_failure(imap):
    line, _ = scram(imap.imap_port, ALICE, PW)
    assert line.startswith(b"a OK [CAPABILITY"), line
    line, _ = scram(imap.imap_port, ALICE, "wrong")
    assert line.startswith(b"a NO [AUTHENTICATIONFAILED]"), line


def test_scram_failures_reach_the_login_throttle(imap):
    """Failed SCRAM proofs from one address count like failed LOGINs:
    past three the exchange is held back, past ten the address is refused
    before the exchange, for SCRAM with the right password and for LOGIN
    alike (the throttle is shared)."""
    times = []
    for i in range(4):
        line, took = scram(imap.imap_port, ALICE, "guess-%d" % i)
        assert line.startswith(b"a NO [AUTHENTICATIONFAILED]"), line
        times.append(took)
    assert max(times[:3]) < 0.9, times
    assert times[3] >= 0.9, times
    # six more at once (unknown users count too); each is delayed
    results = []

    def one(i):
        results.append(scram(imap.imap_port,
                             ALICE if i % 2 else "nobody@local.test",
                             "guess-x%d" % i))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    for line, took in results:
        assert line.startswith(b"a NO [AUTHENTICATIONFAILED]"), line
        assert took >= 0.9, results
    # ten failures: blocked, before any challenge
    line, took = scram(imap.imap_port, ALICE, PW)
    assert line.startswith(b"a NO [UNAVAILABLE]"), line
    assert took < 0.9
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port, timeout=30)
    with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
        m.login(ALICE, PW)
    m.shutdown()
    assert "mech=SCRAM-SHA-256 reason=throttled" in imap.read_log()


def test_scram_success_clears_the_account(imap):
    """The account's counter: five failures from five addresses delay the
    account (each address has only one); a right SCRAM proof clears it,
    so the next attempt from yet another address goes at once."""
    for i in range(5):
        line, took = scram(imap.imap_port, ALICE, "guess-%d" % i,
                           src="127.0.0.%d" % (10 + i))
        assert b"AUTHENTICATIONFAILED" in line
        assert took < 0.9
    line, took = scram(imap.imap_port, ALICE, "guess-5", src="127.0.0.20")
    assert b"AUTHENTICATIONFAILED" in line
    assert took >= 0.9          # the account is being guessed at
    line, took = scram(imap.imap_port, ALICE, PW, src="127.0.0.21")
    assert line.startswith(b"a OK"), line
    assert took >= 0.9
    line, took = scram(imap.imap_port, ALICE, "guess-6", src="127.0.0.22")
    assert b"AUTHENTICATIONFAILED" in line
    assert took < 0.9           # cleared by the success


# ---- APPEND with bare LF ------------------------------------------------

def append_raw(m, mailbox, data):
    """APPEND through imaplib without its LF -> CRLF mapping (the bytes go
    out exactly as given)."""
    m.literal = data
    typ, dat = m._simple_command("APPEND", mailbox)
    assert typ == "OK", dat
    return dat


def crlf(data):
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def fetch_items(m, num, items):
    typ, data = m.fetch(num, items)
    assert typ == "OK", data
    return data


@pytest.mark.parametrize("size", [200, 200000])
def test_append_bare_lf_sizes_agree(imap, size):
    """A bare-LF message (small: buffered; 200 KB: streamed by the
    reader) is stored with CRLF: RFC822.SIZE equals the length of BODY[],
    and partials cut the same octets."""
    body = b"".join(b"line %d of a bare-LF message\n" % i
                    for i in range(size // 28))
    msg = b"Subject: bare lf\nFrom: a@remote.test\n\n" + body
    assert b"\r" not in msg
    want = crlf(msg)
    m = login(imap)
    append_raw(m, "INBOX", msg)
    ok(m.select("INBOX"))
    data = fetch_items(m, "1", "(RFC822.SIZE BODY.PEEK[] BODY.PEEK[]<0.20>)")
    head = data[0][0]
    size_m = re.search(rb"RFC822\.SIZE (\d+)", head)
    assert size_m, data
    assert int(size_m.group(1)) == len(want)
    assert data[0][1] == want
    assert data[1][1] == want[:20]
    # a partial in the middle
    off = len(want) // 2
    data = fetch_items(m, "1", "(BODY.PEEK[]<%d.100>)" % off)
    assert data[0][1] == want[off:off + 100]
    # the text part's size in BODYSTRUCTURE counts CRLF too
    data = fetch_items(m, "1", "(BODY.PEEK[TEXT])")
    assert data[0][1] == crlf(body)
    m.logout()
    assert imap.message(ALICE, 1) == want


# ---- long COPYUID / MODIFIED --------------------------------------------

def bulk_append(server, n):
    """n small messages into INBOX, pipelined (LITERAL+) on one
    connection."""
    r = Raw(server.imap_port)
    r.cmd(b'LOGIN "alice@local.test" "secret-pw"')
    out = []
    for i in range(1, n + 1):
        msg = b"Subject: bulk %d\r\n\r\nbody %d\r\n" % (i, i)
        out.append(b"b%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(msg), msg))
    r.send(b"".join(out))
    lines, tagged = r.until(b"b%d" % n)
    assert tagged.split()[1] == b"OK", tagged
    r.cmd(b"LOGOUT")
    r.close()


def expand(uidset):
    out = []
    for part in uidset.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


def test_copyuid_and_modified_of_scattered_sets(imap):
    n = 2000
    bulk_append(imap, n)
    m = login(imap)
    ok(m.select("INBOX"))
    odd = list(range(1, n + 1, 2))
    oddset = ",".join(str(i) for i in odd)
    typ, data = m.copy(oddset, "Trash")
    assert typ == "OK", data
    code = re.match(rb"\[COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)\]", data[0])
    assert code, data[0][:200]
    src = expand(code.group(2).decode())
    dst = expand(code.group(3).decode())
    assert src == odd
    assert len(dst) == len(src) == n // 2
    assert dst == sorted(dst) and len(set(dst)) == len(dst)
    assert int(ok(m.select("Trash"))[0]) == n // 2
    # STORE UNCHANGEDSINCE failing on every odd message
    m.untagged_responses = {}
    typ, data = m._simple_command("SELECT", "INBOX", "(CONDSTORE)")
    assert typ == "OK", data
    m.state = "SELECTED"
    modseq = int(m.untagged_responses["HIGHESTMODSEQ"][-1])
    ok(m.store(oddset, "+FLAGS.SILENT", r"(\Flagged)"))
    typ, data = m._simple_command("STORE", "1:*",
                                  "(UNCHANGEDSINCE %d)" % modseq,
                                  "+FLAGS.SILENT", r"(\Seen)")
    assert typ == "OK", data
    code = re.match(rb"\[MODIFIED ([0-9:,]+)\]", data[-1])
    assert code, data[-1][:200]
    assert expand(code.group(1).decode()) == odd
    # the even ones took \Seen, the odd ones did not
    typ, data = m.fetch("1:4", "(FLAGS)")
    flags = [re.search(rb"FLAGS \(([^)]*)\)", d).group(1) for d in data
             if isinstance(d, bytes) and b"FLAGS" in d]
    assert len(flags) == 4, data
    assert b"\\Seen" not in flags[0] and b"\\Seen" in flags[1], flags
    assert b"\\Seen" not in flags[2] and b"\\Seen" in flags[3], flags
    m.logout()


# ---- \Recent --------------------------------------------------------------

def recent_of(m):
    return [int(x) for x in m.untagged_responses.pop("RECENT", [])]


def test_recent_two_rev1_sessions(imap):
    send(imap, [make_msg(1), make_msg(2)])
    # nobody has looked yet: both are recent
    c = login(imap)
    typ, data = c.status("INBOX", "(MESSAGES RECENT)")
    assert b"(MESSAGES 2 RECENT 2)" in data[0], data
    a = login(imap)
    ok(a.select("INBOX"))
    assert recent_of(a) == [2]
    b = login(imap)
    ok(b.select("INBOX"))
    assert recent_of(b) == [0]
    assert ok(a.search(None, "RECENT")) == [b"1 2"]
    assert ok(b.search(None, "RECENT")) == [b""]
    assert ok(b.search(None, "OLD")) == [b"1 2"]
    typ, data = a.fetch("1", "(FLAGS)")
    assert b"\\Recent" in data[0], data
    typ, data = b.fetch("1", "(FLAGS)")
    assert b"\\Recent" not in data[0], data
    typ, data = c.status("INBOX", "(RECENT)")
    assert b"(RECENT 0)" in data[0], data
    # a new message: recent for the session that hears of it first
    send(imap, [make_msg(3)])
    ok(a.noop())
    assert a.untagged_responses.get("EXISTS", [])[-1:] == [b"3"]
    assert recent_of(a) == [3]
    ok(b.noop())
    assert b.untagged_responses.get("EXISTS", [])[-1:] == [b"3"]
    assert recent_of(b) == []
    assert ok(a.search(None, "NEW")) == [b"1 2 3"]
    assert ok(b.search(None, "NEW")) == [b""]
    # EXAMINE sees the recent ones without taking them
    send(imap, [make_msg(4)])
    ok(c.select("INBOX", readonly=True))
    assert recent_of(c) == [1]
    typ, data = c.status("INBOX", "(RECENT)")
    assert b"(RECENT 1)" in data[0], data
    ok(b.noop())
    assert recent_of(b) == [1]
    assert ok(b.search(None, "RECENT")) == [b"4"]
    for m in (a, b, c):
        m.logout()
