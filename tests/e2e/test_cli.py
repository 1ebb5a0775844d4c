"""End-to-end: the command line and the configuration contract."""
import os
import subprocess

from conftest import POSTINO


def run(*args, stdin=None):
    return subprocess.run([POSTINO] + list(args), input=stdin, capture_output=True, timeout=60)


def test_init_writes_working_setup(make_server):
    s = make_server()
    conf = open(s.conf).read()
    assert "hostname = mail.local.test" in conf
    assert os.path.exists(os.path.join(s.dir, "tls", "cert.pem"))
    assert os.path.exists(os.path.join(s.dir, "tls", "key.pem"))
    assert run("domain", "list", "-c", s.conf).stdout.decode().split() == ["local.test"]
    p = subprocess.run(["openssl", "x509", "-in", os.path.join(s.dir, "tls", "cert.pem"),
                        "-noout", "-text"], capture_output=True)
    assert p.returncode == 0
    assert b"DNS:mail.local.test" in p.stdout
    assert b"id-ecPublicKey" in p.stdout
    # init refuses to overwrite
    p = run("init", "--dir", s.dir, "--hostname", "h", "--domain", "d.test")
    assert p.returncode != 0 and b"exists" in p.stderr


def test_config_errors_name_file_line_key(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[server]\nhostname = x.test\ndata_dir = /tmp/x\n[queue]\nretry_frist = 5m\n")
    p = run("queue", "list", "-c", str(conf))
    assert p.returncode != 0
    assert ("%s:5: [queue] retry_frist: unknown key" % conf).encode() in p.stderr
    conf.write_text("[server]\nhostname = x.test\n[listen]\nsmtp = 127.0.0.1:99999\n")
    p = run("serve", "-c", str(conf))
    assert p.returncode != 0
    assert ("%s:4: [listen] smtp: invalid port" % conf).encode() in p.stderr
    conf.write_text("[bogus]\nx = 1\n")
    p = run("serve", "-c", str(conf))
    assert ("%s:2: [bogus] x: unknown section" % conf).encode() in p.stderr


def test_user_alias_domain_commands(make_server):
    s = make_server()
    s.add_user("alice@local.test")
    s.add_user("bob@local.test")
    users = s.cli("user", "list").stdout.decode().split()
    assert users == ["alice@local.test", "bob@local.test"]
    p = s.cli("user", "add", "alice@local.test", stdin=b"pw\n", check=False)
    assert p.returncode != 0
    s.cli("user", "passwd", "bob@local.test", stdin=b"new-pw\n")
    s.cli("user", "del", "bob@local.test")
    assert s.cli("user", "list").stdout.decode().split() == ["alice@local.test"]
    s.add_alias("team@local.test", "alice@local.test", "ext@remote.test")
    out = s.cli("alias", "list").stdout.decode().splitlines()
    assert out == ["team@local.test alice@local.test", "team@local.test ext@remote.test"]
    s.cli("alias", "del", "team@local.test", "ext@remote.test")
    assert s.cli("alias", "list").stdout.decode().splitlines() == ["team@local.test alice@local.test"]
    s.cli("domain", "add", "second.test")
    assert s.cli("domain", "list").stdout.decode().split() == ["local.test", "second.test"]
    s.cli("domain", "del", "second.test")
    assert s.cli("domain", "list").stdout.decode().split() == ["local.test"]
    counts = s.mailbox_counts("alice@local.test")
    assert set(counts) == {"INBOX", "Sent", "Drafts", "Junk", "Trash"}
    listing = s.cli("mailbox", "list", "alice@local.test").stdout.decode()
    assert "Junk 0 \\Junk" in listing and "Sent 0 \\Sent" in listing


def test_usage_errors():
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("user", "explode").returncode == 2


def test_queue_commands(make_server):
    s = make_server()
    s.add_user("alice@local.test")
    assert "queue is empty" in s.queue_list()
    p = s.cli("queue", "delete", "0123456789abcdef", check=False)
    assert p.returncode != 0
    assert "no running server" in s.cli("queue", "flush").stdout.decode()
