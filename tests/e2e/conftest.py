"""End-to-end harness: run the real `postino serve` on loopback.

Each test gets a fresh instance (temporary directory, free ports, its own
data directory) through the `server` fixture. The binary comes from
$POSTINO (make test uses the ASan+UBSan build). At teardown the server is
stopped with SIGTERM and its log is checked for sanitizer reports, so a
leak or undefined behaviour fails the test that caused it.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POSTINO = os.environ.get("POSTINO", os.path.join(ROOT, "build", "postino"))
SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:|panic ")


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp, domain="local.test", hostname="mail.local.test",
                 extra=None):
        self.dir = tmp
        self.domain = domain
        self.hostname = hostname
        self.conf = os.path.join(tmp, "postino.conf")
        self.log_path = os.path.join(tmp, "server.log")
        self.proc = None
        self.smtp_port = free_port()
        self.cli("init", "--dir", tmp, "--hostname", hostname,
                 "--domain", domain, use_conf=False)
        # only what a test asks for listens: instances run side by side
        for service in ("submission", "submissions", "pop3", "pop3s"):
            self.set_listen(service, "")
        self.set_listen("smtp", "127.0.0.1:%d" % self.smtp_port)
        self.set_option("queue", "retry_first", "1s")
        self.set_option("queue", "retry_max", "2s")
        for (section, key, value) in (extra or []):
            self.set_option(section, key, value)

    # --- configuration -------------------------------------------------
    def _edit(self, section, key, value):
        lines = open(self.conf).read().split("\n")
        out, cur, done = [], None, False
        for line in lines:
            m = re.match(r"^\[(\w+)\]", line)
            if m:
                if cur == section and not done:
                    out.append("%s = %s" % (key, value))
                    done = True
                cur = m.group(1)
            elif cur == section and re.match(r"^;?\s*%s\s*=" % re.escape(key), line):
                if not done:
                    out.append("%s = %s" % (key, value))
                    done = True
                continue
            out.append(line)
        if not done:
            if cur != section:
                out.append("[%s]" % section)
            out.append("%s = %s" % (key, value))
        open(self.conf, "w").write("\n".join(out) + "\n")

    def set_listen(self, service, value):
        self._edit("listen", service, value)

    def set_option(self, section, key, value):
        self._edit(section, key, value)

    # --- the CLI -------------------------------------------------------
    def cli(self, *args, stdin=None, check=True, use_conf=True):
        argv = [POSTINO] + list(args)
        if use_conf:
            argv += ["-c", self.conf]
        p = subprocess.run(argv, input=stdin, capture_output=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError("postino %s failed (%d): %s" % (
                " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
        self.check_sanitizer(p.stderr.decode(errors="replace"))
        return p

    def add_user(self, address, password="secret-pw"):
        self.cli("user", "add", address, stdin=(password + "\n").encode())

    def add_alias(self, address, *targets):
        self.cli("alias", "add", address, *targets)

    def mailbox_counts(self, address):
        out = self.cli("mailbox", "list", address).stdout.decode()
        counts = {}
        for line in out.splitlines():
            parts = line.split()
            counts[parts[0]] = int(parts[1])
        return counts

    def message(self, address, uid, mailbox="INBOX"):
        return self.cli("mailbox", "cat", address, mailbox, str(uid)).stdout

    def messages(self, address, mailbox="INBOX"):
        exp = tempfile.mkdtemp(dir=self.dir)
        self.cli("mailbox", "export", address, mailbox, exp)
        out = []
        for name in sorted(os.listdir(exp), key=lambda n: int(n.split(".")[0])):
            with open(os.path.join(exp, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_count(self, address, n, mailbox="INBOX", timeout=20):
        deadline = time.time() + timeout
        while True:
            c = self.mailbox_counts(address).get(mailbox, 0)
            if c >= n or time.time() > deadline:
                return c
            time.sleep(0.05)

    def queue_list(self):
        return self.cli("queue", "list").stdout.decode()

    # --- the server ----------------------------------------------------
    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([POSTINO, "serve", "-c", self.conf],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("postino serve exited: " + self.read_log())
            try:
                with socket.create_connection(("127.0.0.1", self.smtp_port), 0.5) as s:
                    s.recv(512)
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("postino did not start: " + self.read_log())

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("postino did not stop on SIGTERM")
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        self.check_sanitizer(self.read_log())
        assert rc == 0, "postino exited with %d: %s" % (rc, self.read_log()[-3000:])

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.log.close()

    def read_log(self):
        try:
            return open(self.log_path, errors="replace").read()
        except OSError:
            return ""

    @staticmethod
    def check_sanitizer(text):
        m = SANITIZER_RE.search(text)
        assert m is None, "sanitizer/panic report:\n" + text[max(0, m.start() - 2000):m.start() + 4000]


@pytest.fixture
def make_server(tmp_path):
    servers = []

    def make(**kw):
        d = tempfile.mkdtemp(dir=str(tmp_path))
        s = Server(d, **kw)
        servers.append(s)
        return s
    yield make
    errors = []
    for s in servers:
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def server(make_server):
    s = make_server()
    s.add_user("alice@local.test")
    s.add_user("bob@local.test")
    return s.start()
