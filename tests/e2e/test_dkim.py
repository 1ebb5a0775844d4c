"""End-to-end: `postino dkim` (keygen, sign, verify) and interoperability
with dkimpy (Debian python3-dkim), in both directions.

- keys made by `postino dkim keygen` sign with `postino dkim sign`, and
  dkimpy's dkim.verify() accepts the result (its DNS answered from the
  record keygen printed);
- messages signed by dkimpy's dkim.sign() pass `postino dkim verify`;
- `postino dkim verify --dns-servers` fetches the keys from a real DNS
  server (dnsmasq, tests/e2e/dnszone.py), RSA-2048 records split into
  several TXT strings.
"""
import os
import stat
import subprocess
import time

import dkim
import pytest

from conftest import POSTINO
from dnszone import DnsZone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.environ.get("TESTDATA", os.path.join(ROOT, "..", "shared", "testdata"))
DKIMPY = os.path.join(TESTDATA, "dkim", "dkimpy", "data")

MESSAGE = (b"From: Ann <ann@example.test>\r\n"
           b"To: Bob <bob@example.net>\r\n"
           b"Subject: DKIM interop\r\n"
           b"Date: Sun, 22 Nov 2026 08:00:00 +0000\r\n"
           b"Message-ID: <interop-1@example.test>\r\n"
           b"\r\n"
           b"Hello Bob,\r\n\r\n  spaces   and\ttabs \r\nend.\r\n\r\n\r\n")


def run(*args, stdin=None):
    return subprocess.run([POSTINO] + list(args), input=stdin,
                          capture_output=True, timeout=60)


@pytest.fixture
def setup(tmp_path):
    d = str(tmp_path)
    r = run("init", "--dir", d, "--hostname", "mail.example.test",
            "--domain", "example.test")
    assert r.returncode == 0, r.stderr
    return os.path.join(d, "postino.conf")


def keygen(conf, *extra):
    r = run("dkim", "keygen", "-c", conf, *extra, "example.test")
    assert r.returncode == 0, r.stderr
    line = r.stdout.decode().strip()
    name, rtype, value = line.split(" ", 2)
    assert rtype == "TXT"
    return name, value


def data_dir(conf):
    for line in open(conf):
        k, _, v = line.partition("=")
        if k.strip() == "data_dir":
            return v.split(";")[0].strip()
    raise AssertionError("no data_dir in " + conf)


def zone_func(zone):
    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        v = zone.get(name.rstrip(".").lower())
        return v.encode() if v is not None else None
    return dnsfunc


def test_keygen_files_record_and_errors(setup):
    conf = setup
    name, value = keygen(conf)
    sel = time.strftime("p%Y%m", time.gmtime())
    assert name == sel + "._domainkey.example.test"
    assert value.startswith("v=DKIM1; k=rsa; p=MII")
    path = os.path.join(data_dir(conf), "dkim", "example.test", sel + ".pem")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert b"PRIVATE KEY" in open(path, "rb").read()
    # the same selector again: refused, the key kept
    before = open(path, "rb").read()
    r = run("dkim", "keygen", "-c", conf, "example.test")
    assert r.returncode == 1 and b"exists" in r.stderr
    assert open(path, "rb").read() == before
    # Ed25519 with a chosen selector: the raw 32-byte key (RFC 8463)
    name, value = keygen(conf, "--type", "ed25519", "--selector", "ed")
    assert name == "ed._domainkey.example.test"
    assert value.startswith("v=DKIM1; k=ed25519; p=") and len(value) == 66
    # errors
    assert run("dkim", "keygen", "-c", conf, "--type", "dsa",
               "example.test").returncode == 2
    assert run("dkim", "keygen", "-c", conf, "../etc").returncode == 1
    assert run("dkim", "keygen", "-c", conf, "--bits", "512",
               "--selector", "small", "example.test").returncode == 1
    assert run("dkim").returncode == 2
    assert run("dkim", "frobnicate").returncode == 2


@pytest.mark.parametrize("keytype", ["rsa", "ed25519"])
def test_postino_signs_dkimpy_verifies(setup, keytype):
    conf = setup
    name, value = keygen(conf, "--type", keytype, "--selector", "s1")
    r = run("dkim", "sign", "-c", conf, "example.test", stdin=MESSAGE)
    assert r.returncode == 0, r.stderr
    signed = r.stdout
    assert signed.startswith(b"DKIM-Signature: v=1; a=%s-sha256; "
                             b"c=relaxed/relaxed; d=example.test; s=s1;"
                             % keytype.encode())
    assert signed.endswith(MESSAGE)
    dnsfunc = zone_func({name: value})
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    # LF line ends, as a mail store may keep it: still good
    assert dkim.verify(signed.replace(b"\r\n", b"\n"), dnsfunc=dnsfunc)
    # tampered body, tampered header, an added From: all rejected
    assert not dkim.verify(signed.replace(b"end.", b"END."), dnsfunc=dnsfunc)
    assert not dkim.verify(signed.replace(b"DKIM interop", b"DKIM x"),
                           dnsfunc=dnsfunc)
    assert not dkim.verify(b"From: eve@example.org\r\n" + signed,
                           dnsfunc=dnsfunc)
    # a message with LF line ends is signed with an LF-ended field
    r = run("dkim", "sign", "-c", conf, "example.test",
            stdin=MESSAGE.replace(b"\r\n", b"\n"))
    assert r.returncode == 0 and b"\r" not in r.stdout
    assert dkim.verify(r.stdout, dnsfunc=dnsfunc)
    # and postino agrees with itself through its own verify command
    zf = os.path.join(os.path.dirname(conf), "zone.txt")
    open(zf, "w").write("%s %s\n" % (name, value))
    r = run("dkim", "verify", "--dns-file", zf, stdin=signed)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(b"dkim=pass")


def dkimpy_rsa_zone(tmp_path):
    rec = open(os.path.join(DKIMPY, "test.txt")).read().strip()
    zf = os.path.join(str(tmp_path), "zone.txt")
    open(zf, "w").write("test._domainkey.example.com %s\n" % rec)
    return zf


@pytest.mark.parametrize("canon", [(b"simple", b"simple"),
                                   (b"relaxed", b"simple"),
                                   (b"simple", b"relaxed"),
                                   (b"relaxed", b"relaxed")])
def test_dkimpy_signs_postino_verifies_rsa(tmp_path, canon):
    key = open(os.path.join(DKIMPY, "test.private"), "rb").read()
    msg = MESSAGE.replace(b"example.test", b"example.com")
    sig = dkim.sign(msg, b"test", b"example.com", key, canonicalize=canon,
                    include_headers=[b"from", b"to", b"subject", b"date"])
    zf = dkimpy_rsa_zone(tmp_path)
    r = run("dkim", "verify", "--dns-file", zf, stdin=sig + msg)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.decode()
    assert out.startswith("dkim=pass (1024-bit key) header.d=example.com "
                          "header.s=test header.a=rsa-sha256"), out
    # a changed body fails
    r = run("dkim", "verify", "--dns-file", zf,
            stdin=sig + msg.replace(b"Hello", b"Hallo"))
    assert r.returncode == 1 and r.stdout.startswith(b"dkim=fail")


def test_dkimpy_signs_postino_verifies_ed25519_and_l(tmp_path):
    seed = open(os.path.join(DKIMPY, "ed25519test.key"), "rb").read().strip()
    rec = open(os.path.join(DKIMPY, "ed25519test.dns")).read().strip()
    zf = os.path.join(str(tmp_path), "zone.txt")
    open(zf, "w").write("test._domainkey.example.net %s\n" % rec)
    msg = MESSAGE.replace(b"example.test", b"example.net")
    sig = dkim.sign(msg, b"test", b"example.net", seed,
                    signature_algorithm=b"ed25519-sha256",
                    canonicalize=(b"relaxed", b"relaxed"))
    r = run("dkim", "verify", "--dns-file", zf, stdin=sig + msg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(b"dkim=pass (256-bit key) header.d=example.net")
    # l= (dkimpy length=True): content appended past l= still passes,
    # and postino says that part is unsigned
    sig = dkim.sign(msg, b"test", b"example.net", seed,
                    signature_algorithm=b"ed25519-sha256", length=True)
    r = run("dkim", "verify", "--dns-file", zf, stdin=sig + msg)
    assert r.returncode == 0 and b'reason="good signature"' in r.stdout
    r = run("dkim", "verify", "--dns-file", zf,
            stdin=sig + msg + b"Unsigned advertisement\r\n")
    assert r.returncode == 0, r.stdout
    assert b"body partly signed (l=)" in r.stdout


def test_verify_keys_from_dns_server(setup, tmp_path):
    conf = setup
    name, value = keygen(conf, "--selector", "big")
    ed_name, ed_value = keygen(conf, "--type", "ed25519", "--selector", "ed")
    z = DnsZone(str(tmp_path))
    # an RSA-2048 record is longer than one TXT string (255 bytes)
    parts = [value[i:i + 255] for i in range(0, len(value), 255)]
    assert len(parts) >= 2
    z.lines.append("txt-record=%s,%s" % (name, ",".join('"%s"' % p for p in parts)))
    z.txt(ed_name, ed_value)
    z.start()
    try:
        for sel in ("big", "ed"):
            r = run("dkim", "sign", "-c", conf, "--selector", sel,
                    "example.test", stdin=MESSAGE)
            assert r.returncode == 0, r.stderr
            v = run("dkim", "verify", "--dns-servers", z.server_setting(),
                    stdin=r.stdout)
            assert v.returncode == 0, v.stdout + v.stderr
            assert v.stdout.startswith(b"dkim=pass"), v.stdout
        # a selector nobody published: permerror (NXDOMAIN), exit 1
        r = run("dkim", "sign", "-c", conf, "--selector", "big",
                "example.test", stdin=MESSAGE)
        signed = r.stdout.replace(b"s=big;", b"s=gone;")
        v = run("dkim", "verify", "--dns-servers", z.server_setting(),
                stdin=signed)
        assert v.returncode == 1
        assert v.stdout.startswith(b"dkim=permerror"), v.stdout
        # no signature at all
        v = run("dkim", "verify", "--dns-servers", z.server_setting(),
                stdin=MESSAGE)
        assert v.returncode == 1 and v.stdout.startswith(b"dkim=none")
    finally:
        z.stop()
