#!/usr/bin/python3
"""make_dovecot_fixtures.py - record Dovecot's ENVELOPE, BODYSTRUCTURE and
BODY, and a set of BODY[section] / BINARY items, for every message of the
MIME corpus, as expected outputs for postino's IMAP renderers
(tests/data/mime/dovecot/).

Starts a private Dovecot instance (Debian dovecot-imapd) with its own
configuration under a temporary directory, listening on 127.0.0.1 at a
free high port, APPENDs each message as a literal (bytes unchanged), and
FETCHes each item separately.  Each fixture file holds the item's value
exactly as Dovecot sent it (literals included), with no trailing CRLF.
The section items (SECTION_ITEMS) are kept with their response name
("BODY[1] {12}\r\n..."), in NAME.fetch-KEY; when Dovecot refuses one,
NAME.fetch-KEY.no holds its tagged answer without the tag and timing.
Dovecot is stopped by its PID at the end.

Usage: tests/mime/make_dovecot_fixtures.py [OUTDIR]
Written for postino; needs root (Dovecot drops to the dovenull user).
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from corpus import corpus_files  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


CONF = """
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{d}/mail/%u
first_valid_uid = 1
passdb {{
  driver = static
  args = password=pw
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


class Imap:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")
        self.tag = 0
        self.f.readline()

    def read_response(self):
        """One untagged or tagged response, literals included."""
        out = b""
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError
            out += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if not m:
                return out
            out += self.f.read(int(m.group(1)))

    def cmd(self, text, literal=None):
        self.tag += 1
        tag = b"a%d" % self.tag
        if literal is not None:
            self.s.sendall(tag + b" " + text + b" {%d}\r\n" % len(literal))
            cont = self.f.readline()
            if not cont.startswith(b"+"):
                raise RuntimeError(cont)
            self.s.sendall(literal + b"\r\n")
        else:
            self.s.sendall(tag + b" " + text + b"\r\n")
        resps = []
        while True:
            r = self.read_response()
            if r.startswith(tag + b" "):
                if not r.startswith(tag + b" OK"):
                    raise RuntimeError(r)
                return resps
            resps.append(r)


# (file key, FETCH item): the BODY[section] / BINARY fixtures.  The unit
# test src/imap/imap_fetch_test.c has the same table.
SECTION_ITEMS = (
    ("body1", b"BODY.PEEK[1]"),
    ("body1mime", b"BODY.PEEK[1.MIME]"),
    ("bodyheader", b"BODY.PEEK[HEADER]"),
    ("bodytext", b"BODY.PEEK[TEXT]"),
    ("bodyfields", b"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]"),
    ("bodyfieldsnot", b"BODY.PEEK[HEADER.FIELDS.NOT (FROM SUBJECT)]"),
    ("body2", b"BODY.PEEK[2]"),
    ("body2mime", b"BODY.PEEK[2.MIME]"),
    ("body11", b"BODY.PEEK[1.1]"),
    ("body2header", b"BODY.PEEK[2.HEADER]"),
    ("body2text", b"BODY.PEEK[2.TEXT]"),
    ("binary1", b"BINARY.PEEK[1]"),
    ("binarysize1", b"BINARY.SIZE[1]"),
    ("binary2", b"BINARY.PEEK[2]"),
    ("bodypartial", b"BODY.PEEK[]<10.50>"),
    ("bodyall", b"BODY.PEEK[]"),
)


def fetch_section(imap, seq, item):
    """(True, "NAME value") or (False, tagged answer without the tag)."""
    try:
        resps = imap.cmd(b"FETCH %d (%s)" % (seq, item))
    except RuntimeError as e:
        r = e.args[0].split(b" ", 1)[1].rstrip(b"\r\n")
        # drop Dovecot's timing suffix, " (0.001 + 0.000 secs)."
        return False, re.sub(rb" \([0-9.]+ \+ [0-9.]+ secs\)\.$", b"", r)
    prefix = b"* %d FETCH (" % seq
    for r in resps:
        if r.startswith(prefix) and r.endswith(b")\r\n"):
            return True, r[len(prefix):-3]
    raise RuntimeError("no %s for %d" % (item, seq))


def fetch_item(imap, seq, item):
    for r in imap.cmd(b"FETCH %d (%s)" % (seq, item)):
        prefix = b"* %d FETCH (%s " % (seq, item)
        if r.startswith(prefix) and r.endswith(b")\r\n"):
            return r[len(prefix):-3]
    raise RuntimeError("no %s for %d" % (item, seq))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "tests", "data", "mime", "dovecot")
    os.makedirs(outdir, exist_ok=True)
    d = tempfile.mkdtemp(prefix="postino-dovecot-")
    os.chmod(d, 0o755)
    for sub in ("run", "state", "mail", "home"):
        os.makedirs(os.path.join(d, sub))
    for sub in ("mail", "home"):
        os.chmod(os.path.join(d, sub), 0o777)
    port = free_port()
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(d=d, port=port))
    subprocess.run(["/usr/sbin/dovecot", "-c", conf], check=True)
    pid = None
    try:
        for _ in range(100):
            try:
                with open(os.path.join(d, "run", "master.pid")) as f:
                    pid = int(f.read().strip())
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        imap = Imap(port)
        imap.cmd(b"LOGIN fixture pw")
        imap.cmd(b"SELECT INBOX")
        seq = 0
        for rel, path in corpus_files():
            with open(path, "rb") as f:
                data = f.read()
            base = os.path.join(outdir, rel.replace("/", "__"))
            try:
                imap.cmd(b"APPEND INBOX", literal=data)
            except RuntimeError as e:
                # e.g. Dovecot refuses an empty message
                with open(base + ".refused", "wb") as f:
                    f.write(e.args[0] if e.args else b"")
                continue
            imap.cmd(b"NOOP")
            seq += 1
            with open(base + ".sha256", "w") as f:
                f.write(hashlib.sha256(data).hexdigest() + "\n")
            for item in (b"ENVELOPE", b"BODYSTRUCTURE", b"BODY",
                         b"RFC822.SIZE"):
                v = fetch_item(imap, seq, item)
                with open(base + "." + item.decode().lower(), "wb") as f:
                    f.write(v)
            for key, item in SECTION_ITEMS:
                ok, v = fetch_section(imap, seq, item)
                name = base + ".fetch-" + key + ("" if ok else ".no")
                with open(name, "wb") as f:
                    f.write(v)
        imap.cmd(b"LOGOUT")
        print("recorded %d messages in %s" % (seq, outdir))
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            time.sleep(0.5)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
