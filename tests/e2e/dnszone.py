"""A private DNS zone on loopback for end-to-end tests of remote delivery.

DnsZone writes a dnsmasq (Debian dnsmasq-base) configuration holding the
test's MX, A and TXT records, runs dnsmasq in the foreground on 127.0.0.1
and a free port, and stops it by its PID. `local=/test/` makes dnsmasq
authoritative for every name under .test: a name it has no record for
gets NXDOMAIN, never a forwarded query (there is no upstream at all).

query() is a small stdlib DNS client (hand-built packets over UDP) used to
check that the zone answers what the test expects before any mail moves.
"""
import os
import random
import socket
import struct
import subprocess
import time

DNSMASQ = os.environ.get("DNSMASQ", "/usr/sbin/dnsmasq")

TYPE_A = 1
TYPE_MX = 15
TYPE_TXT = 16
TYPE_AAAA = 28
RCODE_NXDOMAIN = 3


def free_udp_tcp_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on HOST right now."""
    while True:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind((host, 0))
            port = u.getsockname()[1]
            try:
                t.bind((host, port))
                return port
            except OSError:
                continue
        finally:
            u.close()
            t.close()


# --- a minimal DNS client ---------------------------------------------------

def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("ascii")
            assert len(raw) < 64, label
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def _read_name(pkt, off):
    """(name, offset after the name in place); follows compression."""
    labels, end, hops = [], None, 0
    while True:
        n = pkt[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | pkt[off + 1]
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            continue
        off += 1
        if n == 0:
            break
        labels.append(pkt[off:off + n].decode("ascii", "replace"))
        off += n
    return ".".join(labels), (end if end is not None else off)


def build_query(name, qtype, qid):
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD
    return header + _encode_name(name) + struct.pack("!HH", qtype, 1)


def parse_response(pkt):
    """{'id', 'rcode', 'answers': [(type, value)]} for a reply packet.

    value: A/AAAA -> address text, MX -> (preference, host), TXT -> the
    character-strings joined, anything else -> raw bytes."""
    qid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", pkt[:12])
    off = 12
    for _ in range(qd):
        _, off = _read_name(pkt, off)
        off += 4
    answers = []
    for _ in range(an):
        _, off = _read_name(pkt, off)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", pkt[off:off + 10])
        off += 10
        rdata = pkt[off:off + rdlen]
        if rtype == TYPE_A:
            value = socket.inet_ntop(socket.AF_INET, rdata)
        elif rtype == TYPE_AAAA:
            value = socket.inet_ntop(socket.AF_INET6, rdata)
        elif rtype == TYPE_MX:
            pref = struct.unpack("!H", rdata[:2])[0]
            host, _ = _read_name(pkt, off + 2)
            value = (pref, host)
        elif rtype == TYPE_TXT:
            parts, i = [], 0
            while i < len(rdata):
                n = rdata[i]
                parts.append(rdata[i + 1:i + 1 + n].decode("utf-8", "replace"))
                i += 1 + n
            value = "".join(parts)
        else:
            value = bytes(rdata)
        answers.append((rtype, value))
        off += rdlen
    return {"id": qid, "rcode": flags & 0x0F, "answers": answers}


def query(port, name, qtype, host="127.0.0.1", timeout=1.0):
    """Ask HOST:PORT once over UDP; the parsed reply (see parse_response)."""
    qid = random.randrange(1, 65536)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(build_query(name, qtype, qid), (host, port))
        while True:
            pkt, _ = s.recvfrom(4096)
            r = parse_response(pkt)
            if r["id"] == qid:
                return r


# --- the zone ----------------------------------------------------------------

class DnsZone:
    """dnsmasq serving the records added with mx/host/txt, under .test."""

    def __init__(self, tmpdir):
        self.dir = tmpdir
        self.conf = os.path.join(tmpdir, "dnsmasq.conf")
        self.log_path = os.path.join(tmpdir, "dnsmasq.log")
        self.port = None
        self.proc = None
        self.lines = []

    def mx(self, domain, host, pref):
        """MX record; host "." with preference 0 is a null MX (RFC 7505)."""
        self.lines.append("mx-host=%s,%s,%d" % (domain, host, pref))
        return self

    def host(self, name, *addrs):
        """A (and AAAA) records for NAME."""
        self.lines.append("host-record=%s,%s" % (name, ",".join(addrs)))
        return self

    def txt(self, name, text):
        self.lines.append('txt-record=%s,"%s"' % (name, text))
        return self

    def server_setting(self):
        """The value for postino's [dns] servers."""
        return "127.0.0.1:%d" % self.port

    def start(self):
        assert os.access(DNSMASQ, os.X_OK), \
            DNSMASQ + " is missing: scripts/deps.sh test installs dnsmasq-base"
        for _attempt in range(5):
            self.port = free_udp_tcp_port()
            with open(self.conf, "w") as f:
                f.write("\n".join([
                    "listen-address=127.0.0.1",
                    "bind-interfaces",
                    "port=%d" % self.port,
                    "no-resolv",
                    "no-hosts",
                    "no-negcache",
                    "local-ttl=1",
                    "local=/test/",
                    "log-queries",
                ] + self.lines) + "\n")
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [DNSMASQ, "--keep-in-foreground", "--conf-file=" + self.conf,
                 "--log-facility=-", "--pid-file="],
                stdout=log, stderr=log)
            log.close()
            if self._wait_ready():
                return self
            self.stop()
        raise AssertionError("dnsmasq did not start: " + self.read_log())

    def _wait_ready(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                query(self.port, "probe.test", TYPE_A, timeout=0.2)
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def read_log(self):
        try:
            return open(self.log_path, errors="replace").read()
        except OSError:
            return ""
