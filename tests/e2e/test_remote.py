"""End-to-end: remote delivery through DNS MX (issue 4).

Real `postino serve` instances on several loopback addresses, all listening
on one port number P, which is also every instance's [delivery] smtp_port,
so that "MX -> host name -> 127.0.0.x" leads to P on that address. A
private dnsmasq (dnszone.py) serves the zone below as every instance's
[dns] servers:

    a.test           MX 10 mx.a.test         127.0.0.2   instance A
    b.test           MX 10 mx.b.test         127.0.0.3   instance B
    pref.test        MX 20 mx2.pref.test     127.0.0.5   a Python sink
                     MX 10 mx1.pref.test     127.0.0.3   instance B
    fallback.test    MX 10 mx1.fallback.test 127.0.0.7   nothing listens
                     MX 20 mx2.fallback.test 127.0.0.3   instance B
    implicit.test    (no MX)  A              127.0.0.3   instance B
    nullmx.test      MX 0 .                              null MX (RFC 7505)
    later.test       MX 10 mx.later.test     127.0.0.4   down, later up
    never.test       MX 10 mx.never.test     127.0.0.7   nothing listens
    sink.test        MX 10 mx.sink.test      127.0.0.6   a Python sink
    a.test, b.test   TXT "v=spf1 ip4:127.0.0.0/8 -all"

The listener on port 25 accepts mail for local domains only, so a message
for a remote address enters an instance the way users forward mail: an
alias of a local address pointing at the remote one (aliases to remote
addresses are relayed), or through `postino sendmail`. The sender's own
address stays the envelope sender, so bounces come back to its INBOX.
Instances keep the certificate `postino init` made, so they offer and use
STARTTLS between themselves; the Python sink (class Sink) offers none, or
a broken one.

Short queue timings (retry_first 1s, retry_max 2s; lifetime 6s in the
expiry test) keep the whole file within a few minutes.
"""
import email
import email.policy
import re
import smtplib
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import POSTINO, Server
from dnszone import DnsZone, query, TYPE_A, TYPE_MX, TYPE_TXT, RCODE_NXDOMAIN

IP_A = "127.0.0.2"
IP_B = "127.0.0.3"
IP_LATER = "127.0.0.4"
IP_PREF_SINK = "127.0.0.5"
IP_SINK = "127.0.0.6"
IP_DOWN = "127.0.0.7"
ALL_IPS = (IP_A, IP_B, IP_LATER, IP_PREF_SINK, IP_SINK, IP_DOWN)

# Instances offer STARTTLS on their smtp listener, as deployed ones do: the
# relaying instance upgrades opportunistically (Received: ... with ESMTPS).
OFFER_STARTTLS = True


def msg_bytes(sender, to, subject, body_lines=None):
    lines = [
        "From: <%s>" % sender,
        "To: <%s>" % to,
        "Subject: %s" % subject,
        "Message-ID: <%s.%d@test>" % (re.sub(r"\W", "", subject),
                                      int(time.time() * 1e6)),
        "",
    ] + (body_lines or ["Hello from %s." % sender,
                        ".a line that starts with a dot",
                        "..and one with two",
                        "end"])
    return ("\r\n".join(lines) + "\r\n").encode()


def body_of(raw):
    return raw.split(b"\r\n\r\n", 1)[1]


# --- the zone and the shared port -------------------------------------------

def common_port():
    """A TCP port number free on every address the tests use."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ok = True
        for ip in ALL_IPS:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((ip, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise AssertionError("no port free on all of " + " ".join(ALL_IPS))


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    z = DnsZone(str(tmp_path_factory.mktemp("dns")))
    z.mx("a.test", "mx.a.test", 10).host("mx.a.test", IP_A)
    z.mx("b.test", "mx.b.test", 10).host("mx.b.test", IP_B)
    # SPF for when it is checked: every test client and instance sends
    # from some 127.0.0.x.
    z.txt("a.test", "v=spf1 ip4:127.0.0.0/8 -all")
    z.txt("b.test", "v=spf1 ip4:127.0.0.0/8 -all")
    # The less preferred record first: order in the answer must not matter.
    z.mx("pref.test", "mx2.pref.test", 20).host("mx2.pref.test", IP_PREF_SINK)
    z.mx("pref.test", "mx1.pref.test", 10).host("mx1.pref.test", IP_B)
    z.mx("fallback.test", "mx1.fallback.test", 10)
    z.host("mx1.fallback.test", IP_DOWN)
    z.mx("fallback.test", "mx2.fallback.test", 20)
    z.host("mx2.fallback.test", IP_B)
    z.host("implicit.test", IP_B)
    z.mx("nullmx.test", ".", 0)
    z.mx("later.test", "mx.later.test", 10).host("mx.later.test", IP_LATER)
    z.mx("never.test", "mx.never.test", 10).host("mx.never.test", IP_DOWN)
    z.mx("sink.test", "mx.sink.test", 10).host("mx.sink.test", IP_SINK)
    z.start()
    z.smtp_port = common_port()
    yield z
    z.stop()


# --- instances on other loopback addresses -----------------------------------

class RemoteServer(Server):
    """A postino instance listening on IP:PORT, resolving through the zone."""

    def __init__(self, tmp, ip, port, zone, domain, queue=None, tls=None):
        super().__init__(tmp, domain=domain, hostname="mx." + domain)
        self.ip = ip
        self.smtp_port = port
        self.set_listen("smtp", "%s:%d" % (ip, port))
        self.set_option("dns", "servers", zone.server_setting())
        self.set_option("delivery", "smtp_port", str(port))
        if not (OFFER_STARTTLS if tls is None else tls):
            # no certificate: the smtp listener offers no STARTTLS
            self.set_option("tls", "cert", "")
            self.set_option("tls", "key", "")
        for key, value in (queue or {}).items():
            self.set_option("queue", key, value)

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([POSTINO, "serve", "-c", self.conf],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("postino serve exited: " + self.read_log())
            try:
                with socket.create_connection((self.ip, self.smtp_port), 0.5) as s:
                    s.recv(512)
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("postino did not start: " + self.read_log())

    def send(self, sender, rcpts, data):
        """One SMTP transaction to this instance (client on 127.0.0.1)."""
        with smtplib.SMTP(self.ip, self.smtp_port, timeout=30) as c:
            c.ehlo("client.test")
            refused = c.sendmail(sender, rcpts, data)
        assert not refused, refused

    def relay_alias(self, local, remote):
        """local@domain -> remote (the way mail for remote addresses enters)."""
        addr = "%s@%s" % (local, self.domain)
        self.add_alias(addr, remote)
        return addr

    def queue_entries(self):
        """[(qid, sender, [(rcpt, state, fields)])] from `postino queue list`."""
        out, cur = [], None
        for line in self.queue_list().splitlines():
            if line == "queue is empty" or not line.strip():
                continue
            if not line.startswith(" "):
                m = re.match(r"^(\S+)\s+\d+\s+.*<(.*)>$", line)
                assert m, line
                cur = (m.group(1), m.group(2), [])
                out.append(cur)
                continue
            m = re.match(r"^\s+<(.*?)> (\w+)(.*)$", line)
            assert m and cur is not None, line
            fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(3)))
            fields = {k: v.strip('"') for k, v in fields.items()}
            cur[2].append((m.group(1), m.group(2), fields))
        return out

    def rcpt_state(self, rcpt):
        for _qid, _sender, rcpts in self.queue_entries():
            for addr, state, fields in rcpts:
                if addr == rcpt:
                    return state, fields
        return None, {}

    def wait_queue_empty(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.queue_entries():
                return True
            time.sleep(0.1)
        return False

    def total_messages(self, address):
        return sum(self.mailbox_counts(address).values())


@pytest.fixture
def net(zone, tmp_path):
    """Factory for RemoteServer instances; all stopped (and checked for
    sanitizer reports) at teardown."""
    servers = []

    def make(ip, domain, users=(), queue=None, tls=None):
        d = tempfile.mkdtemp(dir=str(tmp_path))
        s = RemoteServer(d, ip, zone.smtp_port, zone, domain, queue=queue,
                         tls=tls)
        for u in users:
            s.add_user(u)
        servers.append(s)
        return s
    make.zone = zone
    make.port = zone.smtp_port
    yield make
    errors = []
    for s in servers:
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


def wait_for(pred, timeout, step=0.1):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


# --- a plain SMTP sink (stands for some other MTA) ----------------------------

class Sink:
    """Accepts every message on IP:PORT; records each connection's
    transactions as (mail_from, [rcpts], data) with dot-stuffing undone.
    With broken_tls it offers STARTTLS, answers 220 to it and then sends
    bytes that are no TLS record and hangs up (self.starttls counts it)."""

    def __init__(self, ip, port, broken_tls=False, greet_delays=None,
                 idle_quit_delay=0):
        self.ip, self.port = ip, port
        self.broken_tls = broken_tls
        self.starttls = 0
        # {connection index: seconds before the greeting}
        self.greet_delays = greet_delays or {}
        # seconds before answering QUIT on a connection that sent nothing
        self.idle_quit_delay = idle_quit_delay
        self.connections = []
        self.lock = threading.Lock()
        self.sock = None
        self.thread = None
        self.stopping = False

    def start(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.ip, self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        if self.thread:
            self.thread.join(5)
        if self.sock:
            self.sock.close()

    def messages(self):
        with self.lock:
            return [t for c in self.connections for t in c]

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            txs = []
            with self.lock:
                self.connections.append(txs)
            threading.Thread(target=self._serve, args=(conn, txs),
                             daemon=True).start()

    def _serve(self, conn, txs):
        conn.settimeout(30)
        f = conn.makefile("rb")

        def out(text):
            conn.sendall(text.encode() + b"\r\n")
        try:
            with self.lock:
                index = next(i for i, c in enumerate(self.connections)
                             if c is txs)
            time.sleep(self.greet_delays.get(index, 0))
            out("220 mx.sink.test ESMTP test sink")
            mail, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    out("250-mx.sink.test\r\n250-PIPELINING\r\n"
                        + ("250-STARTTLS\r\n" if self.broken_tls else "")
                        + "250-8BITMIME\r\n250 SIZE 10485760")
                elif verb == "STARTTLS" and self.broken_tls:
                    with self.lock:
                        self.starttls += 1
                    out("220 2.0.0 go ahead")
                    conn.sendall(b"this is not a TLS record\r\n")
                    return
                elif verb == "HELO":
                    out("250 mx.sink.test")
                elif verb == "MAIL":
                    m = re.match(r"MAIL FROM:<(.*?)>", cmd, re.I)
                    mail, rcpts = m.group(1), []
                    out("250 2.1.0 ok")
                elif verb == "RCPT":
                    rcpts.append(re.match(r"RCPT TO:<(.*?)>", cmd, re.I).group(1))
                    out("250 2.1.5 ok")
                elif verb == "DATA":
                    out("354 go ahead")
                    data = b""
                    while True:
                        ln = f.readline()
                        if ln in (b".\r\n", b""):
                            break
                        if ln.startswith(b"."):
                            ln = ln[1:]
                        data += ln
                    with self.lock:
                        txs.append((mail, rcpts, data))
                    out("250 2.0.0 queued as %d" % len(txs))
                    mail, rcpts = None, []
                elif verb == "RSET":
                    mail, rcpts = None, []
                    out("250 2.0.0 ok")
                elif verb == "NOOP":
                    out("250 2.0.0 ok")
                elif verb == "QUIT":
                    if not txs:
                        time.sleep(self.idle_quit_delay)
                    out("221 2.0.0 bye")
                    return
                else:
                    out("502 5.5.1 not here")
        except OSError:
            pass
        finally:
            f.close()
            conn.close()


@pytest.fixture
def sinks():
    made = []

    def make(ip, port, **kw):
        s = Sink(ip, port, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


# --- DSN helpers ----------------------------------------------------------------

def parse_dsn(raw):
    """(message, per-message fields, [per-recipient fields], returned part)
    of an RFC 3464 report, asserting its structure on the way."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert len(parts) >= 2, parts
    assert parts[0].get_content_maintype() == "text"
    status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1, [p.get_content_type() for p in parts]
    blocks = status[0].get_payload()
    assert len(blocks) >= 2, blocks
    per_message, per_rcpt = blocks[0], blocks[1:]
    assert per_message["Reporting-MTA"], per_message
    returned = [p for p in parts if p.get_content_type() in
                ("message/rfc822", "text/rfc822-headers",
                 "message/global", "message/global-headers")]
    return msg, per_message, per_rcpt, (returned[0] if returned else None)


def assert_bounce(raw, rcpt, status_class, original_subject):
    """A failure DSN for RCPT from MAILER-DAEMON with a null Return-Path."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    assert re.search(r"(?m)^Return-Path: <>\r?$", head), head
    msg, _pm, per_rcpt, returned = parse_dsn(raw)
    assert "mailer-daemon" in str(msg["From"]).lower(), msg["From"]
    found = [b for b in per_rcpt if rcpt.lower() in str(b["Final-Recipient"]).lower()]
    assert found, [str(b) for b in per_rcpt]
    b = found[0]
    assert str(b["Final-Recipient"]).lower().replace(" ", "").startswith("rfc822;")
    assert str(b["Action"]).strip().lower() == "failed", str(b)
    st = str(b["Status"]).strip()
    assert re.match(r"^%s\.\d{1,3}\.\d{1,3}$" % status_class, st), st
    assert returned is not None, "the original message is not returned"
    assert original_subject.encode() in returned.as_bytes(), returned.as_bytes()[:500]
    return b


# --- the tests -----------------------------------------------------------------------

def test_zone_answers(zone):
    """The harness itself: dnsmasq serves what the other tests rely on."""
    p = zone.port
    assert query(p, "a.test", TYPE_MX)["answers"] == [(TYPE_MX, (10, "mx.a.test"))]
    assert query(p, "mx.b.test", TYPE_A)["answers"] == [(TYPE_A, IP_B)]
    assert sorted(v for _, v in query(p, "pref.test", TYPE_MX)["answers"]) == \
        [(10, "mx1.pref.test"), (20, "mx2.pref.test")]
    assert query(p, "nullmx.test", TYPE_MX)["answers"] == [(TYPE_MX, (0, ""))]
    r = query(p, "implicit.test", TYPE_MX)
    assert r["rcode"] == 0 and r["answers"] == []
    assert query(p, "implicit.test", TYPE_A)["answers"] == [(TYPE_A, IP_B)]
    assert query(p, "a.test", TYPE_TXT)["answers"] == \
        [(TYPE_TXT, "v=spf1 ip4:127.0.0.0/8 -all")]
    assert query(p, "nowhere.test", TYPE_MX)["rcode"] == RCODE_NXDOMAIN


def test_instances_on_loopback_aliases(net):
    """The harness: two instances, same port, different addresses, each
    delivering locally; a relayed address is queued, not refused."""
    a = net(IP_A, "a.test", users=["alice@a.test"]).start()
    b = net(IP_B, "b.test", users=["bob@b.test"]).start()
    a.send("x@elsewhere.test", ["alice@a.test"], msg_bytes("x@elsewhere.test", "alice@a.test", "local A"))
    b.send("x@elsewhere.test", ["bob@b.test"], msg_bytes("x@elsewhere.test", "bob@b.test", "local B"))
    assert a.wait_count("alice@a.test", 1) == 1
    assert b.wait_count("bob@b.test", 1) == 1
    with socket.create_connection((IP_A, net.port), 5) as s:
        assert s.recv(512).startswith(b"220 mx.a.test")
    with socket.create_connection((IP_B, net.port), 5) as s:
        assert s.recv(512).startswith(b"220 mx.b.test")


def test_cross_delivery_both_ways(net):
    a = net(IP_A, "a.test", users=["alice@a.test"]).start()
    b = net(IP_B, "b.test", users=["bob@b.test"]).start()
    to_bob = a.relay_alias("to-bob", "bob@b.test")
    to_alice = b.relay_alias("to-alice", "alice@a.test")

    m1 = msg_bytes("alice@a.test", to_bob, "A to B")
    a.send("alice@a.test", [to_bob], m1)
    m2 = msg_bytes("bob@b.test", to_alice, "B to A")
    b.send("bob@b.test", [to_alice], m2)

    assert b.wait_count("bob@b.test", 1, timeout=30) == 1, a.queue_list() + a.read_log()[-3000:]
    assert a.wait_count("alice@a.test", 1, timeout=30) == 1, b.queue_list() + b.read_log()[-3000:]
    got_b = b.message("bob@b.test", 1)
    got_a = a.message("alice@a.test", 1)
    # The text arrives unchanged (dot-stuffing undone), the envelope sender
    # is kept, and the receiving side recorded the sending MTA.
    assert body_of(got_b) == body_of(m1)
    assert body_of(got_a) == body_of(m2)
    assert b"Return-Path: <alice@a.test>" in got_b
    assert b"Return-Path: <bob@b.test>" in got_a
    # (from whichever 127.0.0.x the kernel picked as source address)
    assert re.search(rb"Received: from mx\.a\.test \([^)]*\[127\.0\.0\.\d+\]\)", got_b), got_b[:800]
    assert re.search(rb"Received: from mx\.b\.test \([^)]*\[127\.0\.0\.\d+\]\)", got_a), got_a[:800]
    # the relaying instance upgraded with STARTTLS (opportunistic TLS)
    assert re.search(rb"by mx\.b\.test \(postino\) with ESMTPS \(TLSv1\.[23] ", got_b), got_b[:800]
    assert re.search(rb"by mx\.a\.test \(postino\) with ESMTPS \(TLSv1\.[23] ", got_a), got_a[:800]
    assert a.wait_queue_empty() and b.wait_queue_empty()


def test_sendmail_to_remote_and_back(net):
    """`postino sendmail` on A for a remote address: B stores it; bob's
    reply through B's sendmail reaches alice at A. LF line ends from the
    local submitter become CRLF on the wire."""
    a = net(IP_A, "a.test", users=["alice@a.test"]).start()
    b = net(IP_B, "b.test", users=["bob@b.test"]).start()
    a.cli("sendmail", "-f", "alice@a.test", "bob@b.test",
          stdin=b"From: alice@a.test\nTo: bob@b.test\nSubject: via sendmail\n"
                b"\nfirst line\n.dot line\n")
    assert b.wait_count("bob@b.test", 1, timeout=30) == 1, a.queue_list() + a.read_log()[-3000:]
    got = b.message("bob@b.test", 1)
    assert b"Return-Path: <alice@a.test>" in got
    assert b"Subject: via sendmail\r\n" in got
    assert body_of(got) == b"first line\r\n.dot line\r\n"
    b.cli("sendmail", "-f", "bob@b.test", "alice@a.test",
          stdin=b"Subject: re: via sendmail\n\nthanks\n")
    assert a.wait_count("alice@a.test", 1, timeout=30) == 1, b.queue_list() + b.read_log()[-3000:]
    assert body_of(a.message("alice@a.test", 1)) == b"thanks\r\n"
    assert a.wait_queue_empty() and b.wait_queue_empty()


def test_mx_preference(net, sinks):
    """pref.test: MX 10 -> B, MX 20 -> a sink. Everything goes to B."""
    sink = sinks(IP_PREF_SINK, net.port).start()
    a = net(IP_A, "a.test", users=["alice@a.test"]).start()
    b = net(IP_B, "b.test", users=["carol@pref.test"]).start()
    fwd = a.relay_alias("to-carol", "carol@pref.test")
    for i in range(3):
        a.send("alice@a.test", [fwd], msg_bytes("alice@a.test", fwd, "pref %d" % i))
    assert b.wait_count("carol@pref.test", 3, timeout=30) == 3, a.queue_list() + a.read_log()[-3000:]
    assert a.wait_queue_empty()
    assert sink.connections == [], "the less preferred MX was used"


def test_mx_fallback_first_down(net):
    """fallback.test: MX 10 refuses connections; MX 20 (B) gets the mail
    on the first attempt, with no deferral."""
    a = net(IP_A, "a.test", users=["alice@a.test"],
            queue={"retry_first": "30s", "retry_max": "60s"}).start()
    b = net(IP_B, "b.test", users=["dave@fallback.test"]).start()
    fwd = a.relay_alias("to-dave", "dave@fallback.test")
    m = msg_bytes("alice@a.test", fwd, "fallback")
    a.send("alice@a.test", [fwd], m)
    # retry_first is 30 s: arriving sooner means the first attempt used MX 20.
    assert b.wait_count("dave@fallback.test", 1, timeout=20) == 1, a.queue_list() + a.read_log()[-3000:]
    assert body_of(b.message("dave@fallback.test", 1)) == body_of(m)
    assert a.wait_queue_empty()


def test_implicit_mx(net):
    """implicit.test has no MX, only an A record: the host itself is the MX
    (RFC 5321 section 5.1)."""
    a = net(IP_A, "a.test", users=["alice@a.test"]).start()
    b = net(IP_B, "b.test", users=["erin@implicit.test"]).start()
    fwd = a.relay_alias("to-erin", "erin@implicit.test")
    a.send("alice@a.test", [fwd], msg_bytes("alice@a.test", fwd, "implicit"))
    assert b.wait_count("erin@implicit.test", 1, timeout=30) == 1, a.queue_list() + a.read_log()[-3000:]
    assert a.wait_queue_empty()


def test_null_mx_bounces_at_once(net):
    """nullmx.test publishes "MX 0 ." (RFC 7505): no delivery is attempted,
    the recipient fails at once and the sender gets a 5.1.10 DSN."""
    a = net(IP_A, "a.test", users=["alice@a.test"],
            queue={"retry_first": "30s", "retry_max": "60s"}).start()
    fwd = a.relay_alias("to-null", "nobody@nullmx.test")
    t0 = time.time()
    a.send("alice@a.test", [fwd], msg_bytes("alice@a.test", fwd, "to null mx"))
    assert a.wait_count("alice@a.test", 1, timeout=20) == 1, a.queue_list() + a.read_log()[-3000:]
    assert time.time() - t0 < 20   # no retry (retry_first is 30 s)
    b = assert_bounce(a.message("alice@a.test", 1), "nobody@nullmx.test", "5",
                      "to null mx")
    assert str(b["Status"]).strip() == "5.1.10", str(b)
    assert a.wait_queue_empty()


def test_destination_down_then_up(net):
    """later.test's only MX (127.0.0.4) is down: the recipient is deferred
    with an error, retried, and delivered once an instance is up there."""
    a = net(IP_A, "a.test", users=["alice@a.test"]).start()
    fwd = a.relay_alias("to-frank", "frank@later.test")
    m = msg_bytes("alice@a.test", fwd, "down then up")
    a.send("alice@a.test", [fwd], m)

    def deferred():
        state, fields = a.rcpt_state("frank@later.test")
        return state == "deferred" and int(fields.get("attempts", "0")) >= 1 \
            and fields.get("error") and (state, fields)
    got = wait_for(deferred, 20)
    assert got, a.queue_list() + a.read_log()[-3000:]
    assert got[1]["next"] != "-"
    # A second attempt happens (retry_first = 1s) while still down.
    assert wait_for(lambda: int(a.rcpt_state("frank@later.test")[1]
                                .get("attempts", "0")) >= 2, 20), a.queue_list()
    assert a.total_messages("alice@a.test") == 0   # no bounce, no warning

    later = net(IP_LATER, "later.test", users=["frank@later.test"]).start()
    assert later.wait_count("frank@later.test", 1, timeout=30) == 1, a.queue_list() + a.read_log()[-3000:]
    assert body_of(later.message("frank@later.test", 1)) == body_of(m)
    assert a.wait_queue_empty()
    assert a.total_messages("alice@a.test") == 0


def test_550_bounce_is_a_dsn(net):
    """B answers 550 for an unknown user: A fails the recipient at once and
    alice gets an RFC 3464 report that Python's email package parses."""
    a = net(IP_A, "a.test", users=["alice@a.test"],
            queue={"retry_first": "30s", "retry_max": "60s"}).start()
    b = net(IP_B, "b.test", users=["bob@b.test"]).start()
    fwd = a.relay_alias("to-nobody", "nobody@b.test")
    a.send("alice@a.test", [fwd], msg_bytes("alice@a.test", fwd, "to an unknown user"))
    assert a.wait_count("alice@a.test", 1, timeout=20) == 1, a.queue_list() + a.read_log()[-3000:]
    raw = a.message("alice@a.test", 1)
    blk = assert_bounce(raw, "nobody@b.test", "5", "to an unknown user")
    diag = str(blk.get("Diagnostic-Code", ""))
    assert diag.replace(" ", "").lower().startswith("smtp;550"), str(blk)
    assert str(blk.get("Remote-MTA", "")).strip(), str(blk)
    assert a.wait_queue_empty()
    assert b.total_messages("bob@b.test") == 0


def test_lifetime_expiry(net):
    """never.test stays down: after [queue] lifetime (6 s) the recipient
    fails for good and the sender gets a failure DSN."""
    a = net(IP_A, "a.test", users=["alice@a.test"],
            queue={"lifetime": "6s"}).start()
    fwd = a.relay_alias("to-gina", "gina@never.test")
    t0 = time.time()
    a.send("alice@a.test", [fwd], msg_bytes("alice@a.test", fwd, "never delivered"))
    assert wait_for(lambda: a.rcpt_state("gina@never.test")[0] == "deferred", 10), \
        a.queue_list() + a.read_log()[-3000:]
    assert a.wait_count("alice@a.test", 1, timeout=30) == 1, a.queue_list() + a.read_log()[-3000:]
    elapsed = time.time() - t0
    assert elapsed >= 5.5, "bounced after %.1f s, before the lifetime" % elapsed
    assert_bounce(a.message("alice@a.test", 1), "gina@never.test", "[45]",
                  "never delivered")
    assert a.wait_queue_empty()


N_BATCH = 15


def test_several_messages_one_connection(net, sinks):
    """Fifteen messages deferred for sink.test, then the sink comes up and
    the queue is flushed: with [delivery] max_connections_per_domain = 3
    they travel over at most 3 connections, each carrying several."""
    a = net(IP_A, "a.test", users=["alice@a.test"],
            queue={"retry_first": "60s", "retry_max": "120s"})
    a.set_option("delivery", "max_connections_per_domain", "3")
    a.start()
    fwd = a.relay_alias("to-sink", "hal@sink.test")
    sent = []
    for i in range(N_BATCH):
        m = msg_bytes("alice@a.test", fwd, "batch %d" % i)
        a.send("alice@a.test", [fwd], m)
        sent.append(m)

    def all_deferred():
        ents = a.queue_entries()
        return len(ents) == N_BATCH and all(
            st == "deferred" for _, _, rs in ents for addr, st, _ in rs
            if addr == "hal@sink.test")
    assert wait_for(all_deferred, 20), a.queue_list() + a.read_log()[-3000:]

    sink = sinks(IP_SINK, net.port).start()
    a.cli("queue", "flush")
    assert wait_for(lambda: len(sink.messages()) >= N_BATCH, 30), a.queue_list() + a.read_log()[-3000:]
    assert a.wait_queue_empty()
    got = sink.messages()
    assert len(got) == N_BATCH
    assert all(mf == "alice@a.test" and rc == ["hal@sink.test"] for mf, rc, _ in got)
    bodies = sorted(body_of(d) for _, _, d in got)
    assert bodies == sorted(body_of(m) for m in sent)
    per_conn = [len(c) for c in sink.connections]
    assert 1 <= len(per_conn) <= 3 and max(per_conn) >= 5, per_conn


def test_no_bounce_loop(net):
    """A message whose sender does not exist either: the recipient gets 550,
    the bounce to the sender gets 550 too, and that is the end of it (a
    bounce is never bounced): both queues empty and stay empty."""
    a = net(IP_A, "a.test", users=["alice@a.test"],
            queue={"retry_first": "1s", "retry_max": "2s"}).start()
    b = net(IP_B, "b.test", users=["bob@b.test"]).start()
    fwd = a.relay_alias("to-nobody", "nobody@b.test")
    a.send("ghost@b.test", [fwd], msg_bytes("ghost@b.test", fwd, "loop bait"))
    assert a.wait_queue_empty(20), a.queue_list() + a.read_log()[-3000:]
    assert b.wait_queue_empty(20), b.queue_list()
    time.sleep(3)
    assert not a.queue_entries(), a.queue_list()
    assert not b.queue_entries(), b.queue_list()
    # At most one copy anywhere (a double bounce to a postmaster is fine).
    total = a.total_messages("alice@a.test") + b.total_messages("bob@b.test")
    assert total <= 1, (total, a.read_log()[-3000:], b.read_log()[-3000:])
    # B refused the message once, then the bounce once, and nothing more.
    log = b.read_log()
    assert len(re.findall(r"(?m)^.* reject .*<nobody@b\.test>.*$", log)) == 1, log[-3000:]
    assert len(re.findall(r"(?m)^.* reject .*<ghost@b\.test>.*$", log)) == 1, log[-3000:]


def test_delay_warning(net):
    """never.test stays down past [queue] delay_warning (2 s): the sender
    gets one "delayed" report while the recipient stays queued."""
    a = net(IP_A, "a.test", users=["alice@a.test"],
            queue={"delay_warning": "2s", "lifetime": "1h"}).start()
    fwd = a.relay_alias("to-ivan", "ivan@never.test")
    a.send("alice@a.test", [fwd], msg_bytes("alice@a.test", fwd, "slow one"))
    assert a.wait_count("alice@a.test", 1, timeout=30) == 1, a.queue_list() + a.read_log()[-3000:]
    raw = a.message("alice@a.test", 1)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    assert re.search(r"(?m)^Return-Path: <>\r?$", head), head
    _msg, _pm, per_rcpt, _ret = parse_dsn(raw)
    blk = [b for b in per_rcpt if "ivan@never.test" in str(b["Final-Recipient"])]
    assert blk and str(blk[0]["Action"]).strip().lower() == "delayed", \
        [str(b) for b in per_rcpt]
    assert str(blk[0]["Status"]).strip().startswith("4."), str(blk[0])
    assert a.rcpt_state("ivan@never.test")[0] == "deferred", a.queue_list()
    # Only one warning, however many retries follow.
    time.sleep(4)
    assert a.total_messages("alice@a.test") == 1


def test_plaintext_when_no_starttls_offered(net):
    """B has no certificate, so offers no STARTTLS: A delivers in plaintext."""
    a = net(IP_A, "a.test", users=["alice@a.test"]).start()
    b = net(IP_B, "b.test", users=["bob@b.test"], tls=False).start()
    fwd = a.relay_alias("to-bob", "bob@b.test")
    m = msg_bytes("alice@a.test", fwd, "in plaintext")
    a.send("alice@a.test", [fwd], m)
    assert b.wait_count("bob@b.test", 1, timeout=30) == 1, a.queue_list() + a.read_log()[-3000:]
    got = b.message("bob@b.test", 1)
    assert body_of(got) == body_of(m)
    assert re.search(rb"by mx\.b\.test \(postino\) with ESMTP id ", got), got[:800]
    assert a.wait_queue_empty()


def test_failed_starttls_falls_back_to_plaintext(net, sinks):
    """The sink offers STARTTLS but breaks the handshake: opportunistic TLS
    means A connects again without it and the message is delivered on the
    first attempt (retry_first is 60 s), not deferred."""
    sink = sinks(IP_SINK, net.port, broken_tls=True).start()
    a = net(IP_A, "a.test", users=["alice@a.test"],
            queue={"retry_first": "60s", "retry_max": "120s"}).start()
    fwd = a.relay_alias("to-sink", "hal@sink.test")
    m = msg_bytes("alice@a.test", fwd, "tls breaks")
    a.send("alice@a.test", [fwd], m)
    assert wait_for(lambda: len(sink.messages()) >= 1, 20), a.queue_list() + a.read_log()[-3000:]
    assert a.wait_queue_empty()
    assert sink.starttls == 1
    got = sink.messages()
    assert len(got) == 1 and body_of(got[0][2]) == body_of(m)
    assert len(sink.connections) == 2 and sink.connections[0] == [], sink.connections


def test_message_arriving_while_idle_connection_quits(net, sinks):
    """Seen in bench/relay: the last connection of a destination ends
    without having sent anything while a new message waits; that message
    must still be sent, not deferred as "no mail server reachable".
    Constructed: two deferred messages are flushed together, so two
    connections open; the sink greets the second one 1 s late, so the
    first carries both; the second finds nothing, quits, and the sink
    holds its 221 for 3 s; a third message arrives meanwhile."""
    a = net(IP_A, "a.test", users=["alice@a.test"],
            queue={"retry_first": "60s", "retry_max": "120s"}).start()
    fwd = a.relay_alias("to-sink", "hal@sink.test")
    for i in range(2):
        a.send("alice@a.test", [fwd], msg_bytes("alice@a.test", fwd, "first %d" % i))

    def both_deferred():
        return [st for _, _, rs in a.queue_entries() for addr, st, _ in rs
                if addr == "hal@sink.test"] == ["deferred", "deferred"]
    assert wait_for(both_deferred, 20), a.queue_list()

    sink = sinks(IP_SINK, net.port, greet_delays={1: 1.0},
                 idle_quit_delay=3.0).start()
    a.cli("queue", "flush")
    assert wait_for(lambda: len(sink.messages()) >= 2, 10), a.queue_list()
    assert wait_for(lambda: len(sink.connections) >= 2, 5), sink.connections
    time.sleep(1.5)      # the second connection greeted and is quitting
    assert [len(c) for c in sink.connections] == [2, 0], sink.connections
    a.send("alice@a.test", [fwd], msg_bytes("alice@a.test", fwd, "third"))
    assert wait_for(lambda: len(sink.messages()) >= 3, 15), \
        a.queue_list() + a.read_log()[-3000:]
    assert a.wait_queue_empty()
