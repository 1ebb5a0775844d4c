"""End-to-end: SPF, DKIM and DMARC acting on inbound mail (issue 8).

Two postino instances and a private DNS zone (dnsmasq, see dnszone.py):

    A  127.0.0.2  sends: submission (AUTH) and sendmail, relays to B,
                  DKIM-signs mail of pass.test (key made by `dkim keygen`)
    B  127.0.0.3  the MX of b.test: checks SPF, DKIM, DMARC on its smtp
                  listener; loopback is NOT trusted here
                  ([policy] trusted_networks = none)

The zone (every client and instance connects from some 127.0.0.x):

    pass.test   SPF ip4:127.0.0.0/8 -all, DKIM key s1, DMARC p=reject
    fail.test   SPF ip4:192.0.2.0/24 -all          -> 550 5.7.23, bounce
    soft.test   SPF ... ~all                        -> Junk
    none.test   no SPF record                       -> Junk
    temp.test   SPF include: of a name whose lookup fails (REFUSED)
                                                    -> 451 4.7.24
    strict.test DMARC p=reject, no SPF, no key      -> forged From: 550 5.7.1
    quar.test   DMARC p=quarantine                  -> forged From: Junk
    ext.test    SPF -all for us, DKIM key "ext" used by dkimpy: the
                aligned DKIM pass saves the SPF fail

Interoperability with python3-dkim both ways: its `dkimverify` command
checks B's copy of A's signature (run in a private network and mount
namespace whose resolv.conf points at a dnsmasq with the zone), and mail
signed by its `dkimsign` command (and by its library) passes at B.
"""
import os
import re
import smtplib
import socket
import subprocess
import tempfile
import time

import dkim
import pytest

from conftest import POSTINO, Server
from dnszone import DNSMASQ, DnsZone, TYPE_TXT, query

IP_A = "127.0.0.2"
IP_B = "127.0.0.3"
PW = "secret-pw"


def common_port(ips):
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ok = True
        for ip in ips:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((ip, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise AssertionError("no common free port")


def txt_strings(value):
    """A long TXT value as several quoted strings for dnsmasq (DnsZone.txt
    wraps the whole in quotes: '","' splits it)."""
    parts = [value[i:i + 200] for i in range(0, len(value), 200)]
    return '","'.join(parts)


class Instance(Server):
    def __init__(self, tmp, ip, port, domain):
        super().__init__(tmp, domain=domain, hostname="mx." + domain)
        self.ip = ip
        self.smtp_port = port
        self.set_listen("smtp", "%s:%d" % (ip, port))
        self.set_option("delivery", "smtp_port", str(port))

    def start(self):
        self.log = open(self.log_path, "ab")
        import subprocess
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

    def queue_text(self):
        return self.queue_list()


def keygen(inst, domain, selector):
    out = inst.cli("dkim", "keygen", "--selector", selector, domain).stdout.decode()
    line = [l for l in out.splitlines() if " TXT " in l][0]
    name, value = line.split(" TXT ", 1)
    return name.strip(), value.strip()


@pytest.fixture(scope="module")
def pnet(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("policy"))
    port = common_port((IP_A, IP_B))
    sub_port = common_port((IP_A,))
    a = Instance(tempfile.mkdtemp(dir=root), IP_A, port, "a.test")
    b = Instance(tempfile.mkdtemp(dir=root), IP_B, port, "b.test")
    for d in ("pass.test", "fail.test", "soft.test", "none.test", "temp.test"):
        a.cli("domain", "add", d)
    for u in ("alice@pass.test", "xavier@fail.test", "sam@soft.test",
              "nora@none.test", "tom@temp.test"):
        a.add_user(u, PW)
    for u in ("pass", "fail", "soft", "none", "temp", "forged", "ar", "ext",
              "sendmail", "quar", "big"):
        b.add_user(u + "@b.test", PW)
    a.set_listen("submission", "%s:%d" % (IP_A, sub_port))
    a.sub_port = sub_port
    key_name, key_value = keygen(a, "pass.test", "s1")
    ext_name, ext_value = keygen(b, "ext.test", "ext")
    conf = open(b.conf).read()
    data_dir = re.search(r"^data_dir\s*=\s*(\S+)", conf, re.M).group(1)
    ext_key_path = os.path.join(data_dir, "dkim", "ext.test", "ext.pem")
    ext_key = open(ext_key_path, "rb").read()

    z = DnsZone(tempfile.mkdtemp(dir=root))
    z.mx("b.test", "mx.b.test", 10).host("mx.b.test", IP_B)
    z.mx("a.test", "mx.a.test", 10).host("mx.a.test", IP_A)
    for d in ("pass.test", "fail.test", "soft.test", "none.test", "temp.test"):
        z.mx(d, "mx.a.test", 10)
    z.txt("pass.test", "v=spf1 ip4:127.0.0.0/8 -all")
    z.txt(key_name, txt_strings(key_value))
    z.txt("_dmarc.pass.test", "v=DMARC1; p=reject")
    z.txt("fail.test", "v=spf1 ip4:192.0.2.0/24 -all")
    z.txt("soft.test", "v=spf1 ip4:192.0.2.0/24 ~all")
    z.txt("temp.test", "v=spf1 include:spf.outside.example -all")
    z.txt("_dmarc.strict.test", "v=DMARC1; p=reject")
    z.txt("_dmarc.quar.test", "v=DMARC1; p=quarantine")
    z.txt("ext.test", "v=spf1 ip4:192.0.2.0/24 -all")
    z.txt(ext_name, txt_strings(ext_value))
    z.txt("_dmarc.ext.test", "v=DMARC1; p=reject")
    z.start()
    for inst in (a, b):
        inst.set_option("dns", "servers", z.server_setting())
        inst.set_option("policy", "trusted_networks", "none")
        # a message past 64K is held in a spill file (msg_hold.h)
        inst.set_option("policy", "hold_memory", "64K")
    a.start()
    b.start()

    class Net:
        pass
    n = Net()
    n.a, n.b, n.zone, n.port = a, b, z, port
    n.ext_key = ext_key
    n.ext_key_path = ext_key_path
    yield n
    errors = []
    for inst in (a, b):
        try:
            inst.stop()
        except AssertionError as e:
            errors.append(str(e))
    z.stop()
    assert not errors, "\n".join(errors)


def zone_dnsfunc(z):
    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        r = query(z.port, name.rstrip("."), TYPE_TXT)
        vals = [v for t, v in r["answers"] if t == TYPE_TXT]
        return vals[0].encode() if vals else b""
    return dnsfunc


def dkimverify(zone, raw):
    """Runs Debian's `dkimverify` (python3-dkim) on raw, its key lookups
    answered by the test zone: in a private mount and network namespace
    a dnsmasq with the zone's records serves 127.0.0.1:53 and a private
    /etc/resolv.conf points there.  (exit status, output)"""
    d = tempfile.mkdtemp(dir=zone.dir)
    conf = os.path.join(d, "dnsmasq.conf")
    with open(conf, "w") as f:
        f.write("\n".join(["listen-address=127.0.0.1", "bind-interfaces",
                           "port=53", "no-resolv", "no-hosts", "local=/test/"]
                          + zone.lines) + "\n")
    with open(os.path.join(d, "resolv.conf"), "w") as f:
        f.write("nameserver 127.0.0.1\n")
    msg = os.path.join(d, "msg")
    with open(msg, "wb") as f:
        f.write(raw)
    script = ("ip link set lo up && "
              "%s --conf-file=%s --pid-file=%s/pid && "
              "mount --bind %s/resolv.conf /etc/resolv.conf && "
              "{ dkimverify < %s; rc=$?; kill $(cat %s/pid); exit $rc; }"
              % (DNSMASQ, conf, d, d, msg, d))
    p = subprocess.run(["unshare", "-mn", "sh", "-c", script],
                       capture_output=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def message(sender, to, subject, extra=()):
    lines = ["From: <%s>" % sender, "To: <%s>" % to, "Subject: %s" % subject,
             "Date: Sun, 22 Nov 2026 10:00:00 +0000",
             "Message-ID: <%s.%d@test>" % (re.sub(r"\W", "", subject),
                                           int(time.time() * 1e6))]
    lines += list(extra)
    lines += ["", "Hello from %s." % sender, "second line", ""]
    return "\r\n".join(lines).encode()


def submit(net, user, to, data):
    with smtplib.SMTP(IP_A, net.a.sub_port, timeout=30) as c:
        c.ehlo("client.test")
        c.login(user, PW)
        refused = c.sendmail(user, [to], data)
    assert not refused, refused


def direct(net, sender, to, data):
    """One transaction straight to B's MX listener (client on 127.0.0.1)."""
    with smtplib.SMTP(IP_B, net.port, timeout=30) as c:
        c.ehlo("client.test")
        return c.sendmail(sender, [to], data)


def wait_for(pred, timeout=30, step=0.1):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def header_block(raw):
    return raw.split(b"\r\n\r\n", 1)[0]


def fields(raw, name):
    """Unfolded values of every field called name."""
    out = []
    for m in re.finditer(rb"(?im)^" + name.encode() + rb"[ \t]*:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)",
                         header_block(raw)):
        out.append(re.sub(rb"\r\n[ \t]", b" ", m.group(1)).strip().decode())
    return out


def test_zone(pnet):
    r = query(pnet.zone.port, "pass.test", TYPE_TXT)
    assert (TYPE_TXT, "v=spf1 ip4:127.0.0.0/8 -all") in r["answers"]
    r = query(pnet.zone.port, "s1._domainkey.pass.test", TYPE_TXT)
    assert r["answers"] and r["answers"][0][1].startswith("v=DKIM1; k=rsa; p=")
    assert query(pnet.zone.port, "spf.outside.example", TYPE_TXT)["rcode"] == 5


def test_pass_signed_inbox_and_dkimpy_verifies(pnet):
    data = message("alice@pass.test", "pass@b.test", "all pass")
    submit(pnet, "alice@pass.test", "pass@b.test", data)
    assert pnet.b.wait_count("pass@b.test", 1, timeout=30) == 1, \
        pnet.a.queue_list() + pnet.b.read_log()[-3000:]
    got = pnet.b.message("pass@b.test", 1)
    ar = fields(got, "Authentication-Results")
    # B's result on top, then A's record of the submission (RFC 8601
    # 2.7.6), added after A signed and kept by B (not B's authserv-id)
    assert len(ar) == 2, ar
    assert ar[0].startswith("mx.b.test;"), ar
    assert ar[1] == "mx.a.test; auth=pass smtp.auth=alice@pass.test", ar
    assert "spf=pass smtp.mailfrom=alice@pass.test" in ar[0], ar
    assert re.search(r"dkim=pass \(2048-bit key\) header\.d=pass\.test .*header\.s=s1", ar[0]), ar
    assert "dmarc=pass (p=reject dis=none) header.from=pass.test" in ar[0], ar
    rspf = fields(got, "Received-SPF")
    assert len(rspf) == 1 and rspf[0].startswith("pass "), rspf
    assert "identity=mailfrom" in rspf[0] and "receiver=mx.b.test" in rspf[0]
    # the trace fields are on top, above B's own Received:
    first = header_block(got).split(b"\r\n")
    names = [l.split(b":")[0] for l in first if l and l[:1] not in (b" ", b"\t")]
    assert names.index(b"Authentication-Results") < names.index(b"Received")
    # A signed it, over-signing From, To, Subject, Date, Message-ID
    sig = fields(got, "DKIM-Signature")
    assert len(sig) == 1, sig
    h = re.search(r"h=([^;]*)", sig[0]).group(1).replace(" ", "").lower().split(":")
    for name in ("from", "to", "subject", "date", "message-id"):
        assert h.count(name) == 2, (name, h)
    assert "d=pass.test" in sig[0] and "s=s1" in sig[0]
    assert "smtp dkim-signed" in pnet.a.read_log()
    # an independent verifier (python3-dkim) accepts the receiver's copy:
    # its dkimverify command with the zone as its DNS, and the library
    rc, out = dkimverify(pnet.zone, got)
    assert rc == 0 and "signature ok" in out, out
    rc, out = dkimverify(pnet.zone, got.replace(b"second line", b"Second line"))
    # (dkimpy 1.1.4's command ends with a traceback on a body mismatch)
    assert rc != 0 and ("signature verification failed" in out or
                        "body hash mismatch" in out), out
    assert dkim.verify(got, dnsfunc=zone_dnsfunc(pnet.zone)), got[:2000]
    # and refuses it once the body is changed
    assert not dkim.verify(got.replace(b"second line", b"Second line"),
                           dnsfunc=zone_dnsfunc(pnet.zone))


def test_big_message_spilled_signed_and_checked(pnet):
    """2 MB: past hold_memory A signs it from its spill file and B checks
    it from its own (DKIM's body hash over the mapped file): it passes
    SPF, DKIM and DMARC, a forged A-R with B's name goes, the body
    arrives intact, and an independent verifier accepts B's copy."""
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit 42\r\n"
    body = line * (2 * 1024 * 1024 // len(line))
    head = message("alice@pass.test", "big@b.test", "big spilled",
                   ["Authentication-Results: mx.b.test; dkim=pass header.d=evil.test"]
                   ).split(b"\r\n\r\n", 1)[0]
    submit(pnet, "alice@pass.test", "big@b.test", head + b"\r\n\r\n" + body)
    assert pnet.b.wait_count("big@b.test", 1, timeout=60) == 1, \
        pnet.a.queue_list() + pnet.b.read_log()[-3000:]
    got = pnet.b.message("big@b.test", 1)
    assert got.split(b"\r\n\r\n", 1)[1] == body
    ar = fields(got, "Authentication-Results")
    assert len(ar) == 2, ar
    assert ar[0].startswith("mx.b.test;") and "spf=pass" in ar[0], ar
    assert re.search(r"dkim=pass \(2048-bit key\) header\.d=pass\.test", ar[0]), ar
    assert "dmarc=pass" in ar[0], ar
    assert ar[1] == "mx.a.test; auth=pass smtp.auth=alice@pass.test", ar
    assert b"evil.test" not in got
    for inst in (pnet.a, pnet.b):
        assert re.search(r"smtp hold-spilled sid=\S+ qid=\S+ bytes=",
                         inst.read_log()), inst.read_log()[-2000:]
    assert re.search(r"removed=1 \(forged Authentication-Results\)",
                     pnet.b.read_log())
    rc, out = dkimverify(pnet.zone, got)
    assert rc == 0 and "signature ok" in out, out


def test_spf_fail_rejected_and_bounced(pnet):
    data = message("xavier@fail.test", "fail@b.test", "spf fail")
    submit(pnet, "xavier@fail.test", "fail@b.test", data)
    # the sender gets a bounce quoting B's 550 5.7.23
    assert pnet.a.wait_count("xavier@fail.test", 1, timeout=40) == 1, \
        pnet.a.queue_list() + pnet.a.read_log()[-3000:] + pnet.b.read_log()[-3000:]
    bounce = pnet.a.message("xavier@fail.test", 1)
    assert b"5.7.23" in bounce, bounce[:3000]
    assert b"SPF validation failed" in bounce, bounce[:3000]
    assert sum(pnet.b.mailbox_counts("fail@b.test").values()) == 0
    assert re.search(r"smtp policy .*action=reject reason=spf=fail", pnet.b.read_log())
    # mail from a domain without a key went out unsigned
    assert b"DKIM-Signature" not in bounce.split(b"\r\n\r\n", 1)[0]


@pytest.mark.parametrize("user,rcpt,result", [
    ("sam@soft.test", "soft@b.test", "softfail"),
    ("nora@none.test", "none@b.test", "none"),
])
def test_softfail_and_none_go_to_junk(pnet, user, rcpt, result):
    submit(pnet, user, rcpt, message(user, rcpt, "junk " + result))
    assert pnet.b.wait_count(rcpt, 1, mailbox="Junk", timeout=30) == 1, \
        pnet.b.read_log()[-3000:]
    counts = pnet.b.mailbox_counts(rcpt)
    assert counts.get("INBOX", 0) == 0, counts
    got = pnet.b.message(rcpt, 1, mailbox="Junk")
    ar = fields(got, "Authentication-Results")
    assert len(ar) == 2 and ("spf=%s smtp.mailfrom=%s" % (result, user)) in ar[0], ar
    assert ar[1] == "mx.a.test; auth=pass smtp.auth=%s" % user, ar
    assert "dkim=none" in ar[0]
    assert fields(got, "Received-SPF")[0].startswith(result + " ")


def test_temperror_is_451(pnet):
    submit(pnet, "tom@temp.test", "temp@b.test",
           message("tom@temp.test", "temp@b.test", "temperror"))

    def deferred():
        q = pnet.a.queue_list()
        return "temp@b.test" in q and "4.7.24" in q and q
    q = wait_for(deferred, timeout=30)
    assert q, pnet.a.queue_list() + pnet.b.read_log()[-3000:]
    assert "deferred" in q, q
    assert sum(pnet.b.mailbox_counts("temp@b.test").values()) == 0
    assert re.search(r"smtp policy .*action=tempfail reason=spf=temperror",
                     pnet.b.read_log())


def test_dmarc_reject_forged_from(pnet):
    # SPF passes for the envelope (pass.test), but From: is strict.test,
    # whose DMARC record says p=reject and nothing aligns
    data = message("ceo@strict.test", "forged@b.test", "forged from")
    with pytest.raises(smtplib.SMTPDataError) as e:
        direct(pnet, "alice@pass.test", "forged@b.test", data)
    assert e.value.smtp_code == 550
    assert b"5.7.1" in e.value.smtp_error and b"DMARC" in e.value.smtp_error
    assert sum(pnet.b.mailbox_counts("forged@b.test").values()) == 0


def test_dmarc_quarantine_goes_to_junk(pnet):
    data = message("news@quar.test", "quar@b.test", "quarantined")
    assert direct(pnet, "alice@pass.test", "quar@b.test", data) == {}
    assert pnet.b.wait_count("quar@b.test", 1, mailbox="Junk", timeout=30) == 1
    assert pnet.b.mailbox_counts("quar@b.test").get("INBOX", 0) == 0
    ar = fields(pnet.b.message("quar@b.test", 1, mailbox="Junk"),
                "Authentication-Results")[0]
    assert "spf=pass" in ar, ar
    assert "dmarc=fail (p=quarantine dis=quarantine) header.from=quar.test" in ar, ar


def test_forged_authentication_results_removed(pnet):
    extra = ["Authentication-Results: mx.b.test; spf=pass smtp.mailfrom=x@evil.test;",
             "\tdkim=pass header.d=evil.test; dmarc=pass",
             "authentication-results : MX.B.TEST.; dkim=pass",
             "Authentication-Results: other.example; dkim=pass header.d=other.example"]
    data = message("alice@pass.test", "ar@b.test", "forged ar", extra)
    assert direct(pnet, "alice@pass.test", "ar@b.test", data) == {}
    assert pnet.b.wait_count("ar@b.test", 1, timeout=30) == 1
    got = pnet.b.message("ar@b.test", 1)
    ar = fields(got, "Authentication-Results")
    assert len(ar) == 2, ar
    assert ar[0].startswith("mx.b.test;") and "spf=pass smtp.mailfrom=alice@pass.test" in ar[0]
    assert ar[1].startswith("other.example;")
    assert b"evil.test" not in got
    assert re.search(r"removed=2 \(forged Authentication-Results\)", pnet.b.read_log())


@pytest.mark.parametrize("how", ["dkimsign", "library"])
def test_dkimpy_signed_verifies_in_postino(pnet, how):
    # SPF fails for ext.test, but the message carries a signature of
    # ext.test (the From: domain) made by dkimpy: aligned DKIM pass
    rcpt = "ext@b.test"
    data = message("news@ext.test", rcpt, "signed by " + how)
    if how == "dkimsign":
        # Debian's dkimsign command (relaxed/simple by default)
        p = subprocess.run(["dkimsign", "ext", "ext.test", pnet.ext_key_path],
                           input=data, capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        signed = p.stdout
    else:
        signed = dkim.sign(data, b"ext", b"ext.test", pnet.ext_key,
                           canonicalize=(b"relaxed", b"relaxed"),
                           include_headers=[b"from", b"to", b"subject",
                                            b"date", b"message-id"]) + data
    assert signed.startswith(b"DKIM-Signature:"), signed[:200]
    before = pnet.b.mailbox_counts(rcpt).get("INBOX", 0)
    assert direct(pnet, "news@ext.test", rcpt, signed) == {}
    assert pnet.b.wait_count(rcpt, before + 1, timeout=30) == before + 1, \
        pnet.b.read_log()[-3000:]
    got = pnet.b.message(rcpt, before + 1)
    ar = fields(got, "Authentication-Results")[0]
    assert "spf=fail" in ar, ar
    assert re.search(r"dkim=pass \(2048-bit key\) header\.d=ext\.test", ar), ar
    assert "dmarc=pass" in ar, ar
    assert pnet.b.mailbox_counts(rcpt).get("Junk", 0) == 0


def test_sendmail_signs(pnet):
    pnet.a.cli("sendmail", "-f", "alice@pass.test", "sendmail@b.test",
               stdin=b"From: alice@pass.test\nTo: sendmail@b.test\n"
                     b"Subject: signed by sendmail\n\nbody\n")
    assert pnet.b.wait_count("sendmail@b.test", 1, timeout=30) == 1, \
        pnet.a.queue_list() + pnet.b.read_log()[-3000:]
    got = pnet.b.message("sendmail@b.test", 1)
    ar = fields(got, "Authentication-Results")[0]
    assert "dkim=pass" in ar and "header.d=pass.test" in ar, ar
    rc, out = dkimverify(pnet.zone, got)
    assert rc == 0 and "signature ok" in out, out


def rss_anon_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon")


@pytest.fixture
def heap_probe(pnet, tmp_path):
    """A third instance, C on 127.0.0.4 (checks on, loopback untrusted,
    hold_memory 64K), run with ASan's quarantine off so that its resident
    anonymous memory follows the live heap (the quarantine keeps freed
    blocks resident: every socket buffer ever used would count)."""
    ip = "127.0.0.4"
    c = Instance(tempfile.mkdtemp(dir=str(tmp_path)), ip,
                 common_port((ip,)), "c.test")
    c.add_user("mem@c.test", PW)
    c.set_option("dns", "servers", pnet.zone.server_setting())
    c.set_option("policy", "trusted_networks", "none")
    c.set_option("policy", "hold_memory", os.environ.get(
        "HEAP_PROBE_HOLD", "64K"))
    old = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = (old + ":" if old else "") + \
        "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    try:
        c.start()
    finally:
        if old is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = old
    yield c
    c.stop()


def test_held_messages_do_not_grow_the_heap(heap_probe):
    """Eight clients each hold a 4 MB message in C's DATA phase (checked
    mail is held until its end): with hold_memory = 64K each costs a
    spill file, not 4 MB of heap, so C's anonymous memory grows by far
    less than the 32 MB held.  (With HEAP_PROBE_HOLD=64M, the memory
    hold of before, it grows by more than 32 MB and this fails.)"""
    c = heap_probe
    n, size = 8, 4 * 1024 * 1024
    line = b"x" * 78 + b"\r\n"
    chunk = line * (256 * 1024 // len(line))
    head = message("alice@pass.test", "mem@c.test", "held").split(
        b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    socks = []

    def reply(f):
        while True:
            l = f.readline()
            if l[3:4] != b"-":
                return l
    before = rss_anon_kb(c.proc.pid)
    try:
        for i in range(n):
            s = socket.create_connection((c.ip, c.smtp_port), 30)
            f = s.makefile("rb")
            socks.append((s, f))
            assert reply(f).startswith(b"220")
            for cmd in (b"EHLO client.test", b"MAIL FROM:<alice@pass.test>",
                        b"RCPT TO:<mem@c.test>", b"DATA"):
                s.sendall(cmd + b"\r\n")
                r = reply(f)
                assert r[:1] in (b"2", b"3"), (cmd, r)
            s.sendall(head)
            sent = 0
            while sent < size:
                s.sendall(chunk)
                sent += len(chunk)
        time.sleep(1.5)		# the last reads are done
        grown = rss_anon_kb(c.proc.pid) - before
        for s, f in socks:
            s.sendall(b".\r\n")
        for s, f in socks:
            l = reply(f)
            assert l.startswith(b"250"), l
            s.sendall(b"QUIT\r\n")
    finally:
        for s, f in socks:
            f.close()
            s.close()
    assert c.wait_count("mem@c.test", n, timeout=60) == n
    assert len(c.message("mem@c.test", 1)) > size
    assert grown < 12 * 1024, "heap grew by %d KiB" % grown
    assert c.read_log().count("smtp hold-spilled") == n
