"""Differential test: postino's MIME parser against Python's email package.

For every message of the shared corpus (../shared/testdata/mime), the
hand-made edge cases (tests/data/mime/local) and a set of messages
generated here with Python's own email package, the part tree is compared:
content types, parameters (RFC 2231 decoded), file names (RFC 2047/2231
decoded) and transfer-decoded bodies.  Every disagreement is listed in
EXPECTED_DIFFS with its reason; an unlisted disagreement, or a listed one
that no longer happens, fails the test.

postino's side comes from `mime_dump_test dump FILE` (src/mime), built here
with make.  Written for postino.
"""
import email
import email.policy
import os
import random
import subprocess
import sys
from email.message import EmailMessage

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "mime"))
from corpus import corpus_files  # noqa: E402

DUMPER = os.path.join(ROOT, "build", "asan", "tests", "mime",
                      "mime_dump_test")

# (message, section, field) -> reason.  Section "-" is the root, ".msg"
# marks the message inside a message/rfc822 part (postino's dump), field is
# one of: count (number of parts), type, params, filename, body.
EXPECTED_DIFFS = {
    ("shared/rfc-examples/001.eml", "*", "count"):
        "message/external-body: RFC 2046 5.2.3 makes its body the header "
        "of a message stored elsewhere, not an encapsulated message; "
        "postino (like Dovecot) keeps it as one leaf part, Python parses "
        "it as a message and reports one inner part for each of the three",
    ("shared/rfc-examples/008.eml", "*", "count"):
        "Python parses a base64-encoded message/rfc822 part as a message "
        "anyway (its 'header' is base64 text: one inner part more); "
        "postino, like Dovecot, keeps an encoded message/rfc822 as one "
        "opaque part (RFC 2046 5.2.1 forbids encoding it)",
    ("local/16-boundary-in-preamble-and-junk.eml", "*", "count"):
        "lines that start with the boundary and go on ('--=_bX ...', "
        "'--=_b-') are boundary lines for postino and Dovecot (see the "
        "Dovecot fixtures); Python requires only blanks after it",
    ("local/25-empty-parts.eml", "*", "count"):
        "two boundary lines in a row: postino (like Dovecot, see its "
        "fixture: three parts) sees an empty part between them; Python "
        "drops that part and reports two",
    ("local/28-duplicate-mime-fields.eml", "-", "filename"):
        "two Content-Disposition fields: postino uses the last one, as "
        "Dovecot does for BODYSTRUCTURE (see its fixture), so the file "
        "name is the same in IMAP and in the webmail; Python the first",
    ("local/29-params-edge.eml", "-", "params"):
        "'; junk;' is a parameter without '=': postino (like Dovecot) "
        "drops it, Python keeps junk=''",
    ("local/29-params-edge.eml", "1", "filename"):
        "filename*0/filename*1 and a plain filename together: postino "
        "prefers the RFC 2231 value ('ab', RFC 2231 section 3), Python "
        "mixes them and returns the first piece ('a')",
    ("local/30-message-no-ct-in-mixed.eml", "*", "count"):
        "message/delivery-status (RFC 3464) holds groups of fields, not "
        "MIME parts: postino and Dovecot keep it one leaf, Python makes "
        "each group a sub-message",
    ("local/20-obsolete-syntax.eml", "-", "type"):
        "Content-Type: TEXT/PLAIN (plain text): Python's header registry "
        "keeps the comment in the subtype ('text/plain (plain text)'); "
        "RFC 2045 5.1 allows comments there and postino drops them",
}


def unescape(s):
    out = bytearray()
    i = 0
    b = s.encode("latin-1") if isinstance(s, str) else s
    while i < len(b):
        if b[i:i + 2] == b"\\x":
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def postino_tree(path):
    out = subprocess.run([DUMPER, "dump", path], check=True,
                         capture_output=True).stdout
    parts = []
    for line in out.decode("latin-1").splitlines():
        words = line.split(" ")
        assert words[0] == "part"
        p = {"section": words[1], "type": words[2], "params": {},
             "filename": None, "body": None}
        for w in words[3:]:
            if w.startswith("param:"):
                k, _, v = w[6:].partition("=")
                p["params"][k] = unescape(v).decode("utf-8", "replace")
            elif w.startswith("filename="):
                p["filename"] = unescape(w[9:]).decode("utf-8", "replace")
            elif w.startswith("data="):
                p["body"] = bytes.fromhex(w[5:])
            elif w.startswith("flags="):
                p["flags"] = int(w[6:], 16)
        parts.append(p)
    return parts


def python_tree(data):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    parts = []
    for part in msg.walk():
        p = {"type": part.get_content_type(), "params": {},
             "filename": None, "body": None}
        for k, v in (part.get_params() or [])[1:]:
            if isinstance(v, tuple):
                v = email.utils.collapse_rfc2231_value(v)
            p["params"].setdefault(k.lower(), v)
        if "content-type" not in part and p["type"] == "text/plain":
            # RFC 2045 5.2's default, which postino spells out
            p["params"] = {"charset": "us-ascii"}
        try:
            p["filename"] = part.get_filename()
        except Exception:  # pragma: no cover - broken parameters
            p["filename"] = None
        if not part.is_multipart():
            p["body"] = part.get_payload(decode=True)
        parts.append(p)
    return parts


def norm_body(b, ptype):
    if b is None:
        return None
    # Python's quoted-printable decoder writes LF line ends
    return b.replace(b"\r\n", b"\n").rstrip(b"\n")


def compare(name, path):
    with open(path, "rb") as f:
        data = f.read()
    ours = postino_tree(path)
    theirs = python_tree(data)
    found = {}
    if len(ours) != len(theirs):
        found[(name, "*", "count")] = (len(ours), len(theirs))
        return found
    for o, t in zip(ours, theirs):
        sec = o["section"]
        if o["type"] != t["type"]:
            found[(name, sec, "type")] = (o["type"], t["type"])
        op = {k: v for k, v in o["params"].items()}
        tp = {k: str(v) for k, v in t["params"].items()}
        if op != tp:
            found[(name, sec, "params")] = (op, tp)
        if (o["filename"] or None) != (t["filename"] or None):
            found[(name, sec, "filename")] = (o["filename"], t["filename"])
        if o["body"] is not None and t["body"] is not None and \
                norm_body(o["body"], o["type"]) != \
                norm_body(t["body"], t["type"]):
            found[(name, sec, "body")] = (o["body"][:80], t["body"][:80])
    return found


def generated_messages(tmpdir, n=40, seed=2026):
    """Random messages written by Python's email package."""
    rnd = random.Random(seed)
    words = ["caf\u00e9", "na\u00efve", "\u65e5\u672c", "plain", "text",
             "\u20ac", "line", "=?x?=", "--", "From", "."]
    out = []
    for i in range(n):
        m = EmailMessage()
        m["From"] = "Sender %d <s%d@example.org>" % (i, i)
        m["To"] = "r@example.net"
        m["Subject"] = " ".join(rnd.choice(words) for _ in range(6))
        body = "\n".join(" ".join(rnd.choice(words) for _ in range(12))
                         for _ in range(rnd.randint(1, 30))) + "\n"
        cte = rnd.choice([None, "quoted-printable", "base64"])
        if cte:
            m.set_content(body, cte=cte)
        else:
            m.set_content(body)
        if rnd.random() < 0.6:
            m.add_alternative("<p>%s</p>\n" % body[:200], subtype="html")
        for k in range(rnd.randint(0, 3)):
            blob = bytes(rnd.getrandbits(8)
                         for _ in range(rnd.randint(0, 3000)))
            fname = rnd.choice(["a.bin", "r\u00e9sum\u00e9.pdf",
                                "long name " * 8 + ".dat", "x.txt"])
            m.add_attachment(blob, maintype="application",
                             subtype="octet-stream", filename=fname)
        if rnd.random() < 0.3:
            outer = EmailMessage()
            outer["Subject"] = "fwd %d" % i
            outer.set_content("see attached\n")
            outer.add_attachment(m)
            m = outer
        data = m.as_bytes(policy=email.policy.SMTP)
        if rnd.random() < 0.5:
            data = data.replace(b"\r\n", b"\n")
        path = os.path.join(tmpdir, "gen-%02d.eml" % i)
        with open(path, "wb") as f:
            f.write(data)
        out.append(("generated/gen-%02d.eml" % i, path))
    return out


@pytest.fixture(scope="module")
def dumper():
    subprocess.run(["make", "-s", "build/asan/tests/mime/mime_dump_test"],
                   cwd=ROOT, check=True)
    return DUMPER


def test_corpus_against_python_email(dumper, tmp_path):
    files = corpus_files() + generated_messages(str(tmp_path))
    assert len(files) >= 70
    found = {}
    for name, path in files:
        found.update(compare(name, path))
    unexpected = {k: v for k, v in found.items() if k not in EXPECTED_DIFFS}
    gone = [k for k in EXPECTED_DIFFS if k not in found]
    assert not unexpected, "unexpected disagreements: %r" % unexpected
    assert not gone, "recorded disagreements that no longer happen: %r" % gone


def test_generated_roundtrip_exact(dumper, tmp_path):
    """Generated messages agree exactly, bodies byte for byte."""
    for name, path in generated_messages(str(tmp_path), n=15, seed=7):
        assert compare(name, path) == {}, name
