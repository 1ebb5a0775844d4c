"""End-to-end: real IMAP clients from Debian against the IMAP server.

curl (imap://, STARTTLS with --ssl-reqd, imaps://: LIST, a message by UID,
a section), mbsync (isync) and offlineimap syncing the account to a local
Maildir and changes back (flags, a new message, a deletion), and mutt run
in a tmux session opening INBOX and showing a message.
"""
import email
import imaplib
import os
import re
import shutil
import subprocess
import time

import pytest

from test_imap import (ALICE, PW, make_msg, ok, send, setup_imap, login)


@pytest.fixture
def imap(make_server):
    s = setup_imap(make_server()).start()
    conf = open(s.conf).read()
    s.cert = re.search(r"^cert\s*=\s*(\S+)", conf, re.M).group(1)
    return s


def run(argv, timeout=120, env=None, cwd=None):
    p = subprocess.run(argv, capture_output=True, timeout=timeout, env=env,
                       cwd=cwd)
    return p


def need(tool):
    # these come from scripts/deps.sh (make test installs them)
    assert shutil.which(tool), "%s is missing: run scripts/deps.sh test" % tool


# ---- curl ------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["plain", "starttls", "imaps"])
def test_curl_list_fetch_section(imap, mode):
    need("curl")
    send(imap, [make_msg(1), make_msg(2, subject="second one")])
    stored = imap.messages(ALICE)
    if mode == "imaps":
        base = ["curl", "-sS", "-k", "--max-time", "30", "-u", ALICE + ":" + PW]
        url = "imaps://127.0.0.1:%d/" % imap.imaps_port
    else:
        base = ["curl", "-sS", "--max-time", "30", "-u", ALICE + ":" + PW]
        if mode == "starttls":
            base += ["--ssl-reqd", "--cacert", imap.cert, "--resolve",
                     "mail.local.test:%d:127.0.0.1" % imap.imap_port]
            url = "imap://mail.local.test:%d/" % imap.imap_port
        else:
            url = "imap://127.0.0.1:%d/" % imap.imap_port
    p = run(base + [url])
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    for mb in ("INBOX", "Sent", "Drafts", "Junk", "Trash"):
        assert re.search(r'^\* LIST \([^)]*\) "/" "?%s"?\r?$' % mb, out, re.M), out
    # a message by UID: exactly the stored bytes
    p = run(base + [url + "INBOX;UID=2"])
    assert p.returncode == 0, p.stderr
    assert p.stdout == stored[1]
    # a section: the body text, then one header field
    p = run(base + [url + "INBOX;UID=1;SECTION=TEXT"])
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"Body line of message 1\r\nsecond line\r\n"
    p = run(base + [url + "INBOX;UID=2;SECTION=HEADER.FIELDS%20(SUBJECT)"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == b"Subject: second one"
    # a custom command: EXAMINE
    p = run(base + ["-X", "EXAMINE INBOX", url])
    assert p.returncode == 0, p.stderr
    assert b"* 2 EXISTS" in p.stdout
    # wrong password
    bad = [a if a != ALICE + ":" + PW else ALICE + ":nope" for a in base]
    p = run(bad + [url])
    assert p.returncode != 0


# ---- Maildir helpers -------------------------------------------------------

def maildir_files(d):
    out = []
    for sub in ("cur", "new"):
        p = os.path.join(d, sub)
        if os.path.isdir(p):
            out += [os.path.join(p, n) for n in sorted(os.listdir(p))]
    return out


def subject_of(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read())["Subject"]


def find_by_subject(d, subject):
    for f in maildir_files(d):
        if subject_of(f) == subject:
            return f
    raise AssertionError("no %r in %s: %s" % (subject, d, maildir_files(d)))


def set_maildir_flags(path, flags):
    base = os.path.basename(path).split(":2,")[0]
    d = os.path.dirname(os.path.dirname(path))
    new = os.path.join(d, "cur", base + ":2," + "".join(sorted(flags)))
    os.rename(path, new)
    return new


def write_new(d, name, data):
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    tmp = os.path.join(d, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(d, "new", name))


def server_state(server):
    """{subject: flags} of INBOX, through imaplib."""
    m = login(server)
    ok(m.select("INBOX"))
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    state = {}
    if data != [None]:
        for d in data:
            if not isinstance(d, tuple):
                continue
            flags = re.search(rb"FLAGS \(([^)]*)\)", d[0]).group(1).decode()
            subj = d[1].decode().split(":", 1)[1].strip()
            state[subj] = set(flags.split())
    m.logout()
    return state


def check_two_way(server, sync, inbox):
    """Runs sync, checks the local copy, changes it, syncs back."""
    send(server, [make_msg(1), make_msg(2), make_msg(3)])
    m = login(server)
    ok(m.select("INBOX"))
    ok(m.store("1", "+FLAGS", r"(\Flagged)"))
    m.logout()
    sync()
    files = maildir_files(inbox)
    assert sorted(subject_of(f) for f in files) == \
        ["message 1", "message 2", "message 3"]
    f1 = find_by_subject(inbox, "message 1")
    assert "F" in f1.split(":2,")[1]
    # the bytes came down whole (Maildir keeps LF line ends; mbsync adds
    # its X-TUID header while a message is in flight)
    stored = server.messages(ALICE)
    local = open(find_by_subject(inbox, "message 2"), "rb").read()
    local = re.sub(rb"(?m)^X-TUID: .*\n", b"", local).replace(b"\n", b"\r\n")
    assert local in stored
    # local changes: flags, a new message, a deletion
    set_maildir_flags(find_by_subject(inbox, "message 2"), "SR")
    write_new(inbox, "1700000000.local1.host",
              make_msg(50, subject="written locally"))
    os.unlink(find_by_subject(inbox, "message 3"))
    sync()
    state = server_state(server)
    assert set(state) == {"message 1", "message 2", "written locally"}, state
    assert {"\\Seen", "\\Answered"} <= state["message 2"], state
    assert "\\Flagged" in state["message 1"]
    # and a change on the server comes back
    m = login(server)
    ok(m.select("INBOX"))
    typ, data = m.search(None, "HEADER", "Subject", '"written locally"')
    ok(m.store(data[0].decode(), "+FLAGS", r"(\Flagged)"))
    m.logout()
    sync()
    f = find_by_subject(inbox, "written locally")
    assert "F" in f.split(":2,")[1]


# ---- mbsync ----------------------------------------------------------------

def test_mbsync_two_way(imap, tmp_path):
    need("mbsync")
    mail = tmp_path / "mail"
    mail.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text("""IMAPAccount acc
Host 127.0.0.1
Port %d
User %s
Pass %s
SSLType STARTTLS
CertificateFile %s
AuthMechs LOGIN

IMAPStore remote
Account acc

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Create Both
Remove None
Expunge Both
SyncState *
""" % (imap.imap_port, ALICE, PW, imap.cert, mail, mail))

    def sync():
        p = run(["mbsync", "-c", str(rc), "-a"], env=dict(os.environ,
                HOME=str(tmp_path)))
        assert p.returncode == 0, (p.stdout + p.stderr).decode()

    check_two_way(imap, sync, str(mail / "INBOX"))
    # every server folder came down
    for mb in ("Sent", "Drafts", "Junk", "Trash"):
        assert (mail / mb / "cur").is_dir(), os.listdir(mail)


# ---- offlineimap -----------------------------------------------------------

@pytest.mark.parametrize("tls", [False, True])
def test_offlineimap_two_way(imap, tmp_path, tls):
    need("offlineimap")
    if tls:
        # imaps, the certificate pinned by its fingerprint (self-signed,
        # and named mail.local.test, not 127.0.0.1)
        fp = run(["openssl", "x509", "-noout", "-fingerprint", "-sha256",
                  "-in", imap.cert]).stdout.decode()
        fp = fp.split("=", 1)[1].strip().replace(":", "").lower()
        remote = ("remoteport = %d\nssl = yes\ncert_fingerprint = %s\n" %
                  (imap.imaps_port, fp))
    else:
        remote = "remoteport = %d\nssl = no\nstarttls = no\n" % imap.imap_port
    mail = tmp_path / "mail"
    rc = tmp_path / "offlineimaprc"
    rc.write_text("""[general]
accounts = A
metadata = %s/meta
ui = basic

[Account A]
localrepository = L
remoterepository = R

[Repository L]
type = Maildir
localfolders = %s

[Repository R]
type = IMAP
remotehost = 127.0.0.1
remoteuser = %s
remotepass = %s
%s""" % (tmp_path, mail, ALICE, PW, remote))

    def sync():
        p = run(["offlineimap", "-c", str(rc), "-o", "-u", "basic"],
                env=dict(os.environ, HOME=str(tmp_path)))
        out = (p.stdout + p.stderr).decode()
        assert p.returncode == 0, out
        assert "ERROR" not in out, out

    check_two_way(imap, sync, str(mail / "INBOX"))


# ---- mutt in tmux ----------------------------------------------------------

def test_mutt_in_tmux_shows_message(imap, tmp_path):
    need("mutt")
    need("tmux")
    send(imap, [make_msg(1, subject="hello from postino",
                         body="The body text mutt must show.\r\n")])
    rc = tmp_path / "muttrc"
    rc.write_text("""set imap_pass = "%s"
set folder = "imap://%s@127.0.0.1:%d/"
set spoolfile = "+INBOX"
set ssl_starttls = no
set ssl_force_tls = no
set record = ""
set postponed = ""
set header_cache = ""
set message_cachedir = ""
set mail_check = 2
set timeout = 2
set pager_stop = yes
set wait_key = no
""" % (PW, ALICE.replace("@", "%40"), imap.imap_port))
    sock = str(tmp_path / "tmux.sock")
    session = "postino-mutt"
    env = dict(os.environ, HOME=str(tmp_path), TERM="xterm")
    tmux = ["tmux", "-S", sock]
    p = run(tmux + ["new-session", "-d", "-s", session, "-x", "160", "-y",
                    "40", "mutt -n -F %s" % rc], env=env)
    assert p.returncode == 0, p.stderr

    def screen():
        return run(tmux + ["capture-pane", "-p", "-t", session],
                   env=env).stdout.decode(errors="replace")

    def wait_for(text, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = screen()
            if text in s:
                return s
            time.sleep(0.2)
        raise AssertionError("%r not on screen:\n%s" % (text, screen()))

    try:
        index = wait_for("hello from postino")
        assert "INBOX" in index or "imap://" in index, index
        run(tmux + ["send-keys", "-t", session, "Enter"], env=env)
        page = wait_for("The body text mutt must show.")
        assert "Subject: hello from postino" in page, page
        run(tmux + ["send-keys", "-t", session, "q"], env=env)
        run(tmux + ["send-keys", "-t", session, "q"], env=env)
        time.sleep(0.5)
        run(tmux + ["send-keys", "-t", session, "y"], env=env)
    finally:
        run(tmux + ["kill-server"], env=env)
    # mutt logged in over IMAP
    assert re.search(r"imap login sid=\w+ peer=127\.0\.0\.1 user=%s" %
                     re.escape(ALICE), imap.read_log())
