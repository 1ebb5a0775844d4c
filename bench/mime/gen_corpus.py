#!/usr/bin/python3
"""gen_corpus.py OUTDIR - write the two MIME benchmark corpora.

OUTDIR/ordinary/     2,000 everyday messages: a realistic header block
                     (Received chain, DKIM-Signature, List-* fields), text
                     + HTML alternatives in quoted-printable, a fifth of
                     them with a small base64 attachment, some forwarded
                     as message/rfc822; 4-40 KiB each.
OUTDIR/attachments/  24 messages, each with one to three base64
                     attachments of 1-6 MiB.
Deterministic (fixed seed), stdlib only.  Written for postino.
"""
import os
import random
import sys
from email.message import EmailMessage
from email import policy

WORDS = ("the of and to in is that for it as was with be by on not he "
         "this are or his from at which but have an they you were her "
         "all she there would their we him been has when who will more "
         "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber Stra\u00dfe "
         "meeting report invoice attached please find below").split()


def para(rnd, n):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def header_block(rnd, m, i):
    for k in range(rnd.randint(3, 7)):
        m["Received"] = ("from mx%d.example.net (mx%d.example.net "
                         "[192.0.2.%d]) by mail.example.org (postino) "
                         "with ESMTPS id %08x for <user@example.org>; "
                         "Mon, 2 Mar 2026 10:%02d:00 +0000"
                         % (k, k, k + 1, rnd.getrandbits(32), k))
    m["DKIM-Signature"] = ("v=1; a=rsa-sha256; c=relaxed/relaxed; "
                           "d=example.net; s=sel; h=from:to:subject:date; "
                           "bh=%s; b=%s" % ("A" * 44, "B" * 340))
    m["From"] = "Sender %d <sender%d@example.net>" % (i, i)
    m["To"] = ", ".join("R%d <r%d@example.org>" % (k, k)
                        for k in range(rnd.randint(1, 4)))
    m["Subject"] = para(rnd, 8)
    m["Date"] = "Mon, 2 Mar 2026 10:00:00 +0000"
    m["Message-ID"] = "<%08x.%d@example.net>" % (rnd.getrandbits(32), i)
    m["List-Id"] = "Example list <list.example.org>"
    m["List-Unsubscribe"] = "<mailto:leave@example.org>"


def ordinary(rnd, i):
    m = EmailMessage()
    header_block(rnd, m, i)
    text = "\n\n".join(para(rnd, rnd.randint(20, 120))
                       for _ in range(rnd.randint(2, 20))) + "\n"
    m.set_content(text, cte="quoted-printable")
    m.add_alternative("<html><body>%s</body></html>\n"
                      % text.replace("\n\n", "<p>"), subtype="html",
                      cte="quoted-printable")
    if rnd.random() < 0.2:
        blob = bytes(rnd.getrandbits(8)
                     for _ in range(rnd.randint(2000, 20000)))
        m.add_attachment(blob, maintype="application", subtype="pdf",
                         filename="doc%d.pdf" % i)
    if rnd.random() < 0.1:
        outer = EmailMessage()
        header_block(rnd, outer, i)
        outer.set_content("Forwarded message below.\n")
        outer.add_attachment(m)
        m = outer
    return m.as_bytes(policy=policy.SMTP)


def attachments(rnd, i):
    m = EmailMessage()
    header_block(rnd, m, i)
    m.set_content(para(rnd, 80) + "\n")
    for k in range(rnd.randint(1, 3)):
        n = rnd.randint(1, 6) << 20
        m.add_attachment(rnd.randbytes(n), maintype="application",
                         subtype="octet-stream", filename="f%d-%d.bin"
                         % (i, k))
    return m.as_bytes(policy=policy.SMTP)


def main():
    out = sys.argv[1]
    rnd = random.Random(20260302)
    for name, n, fn in (("ordinary", 2000, ordinary),
                        ("attachments", 24, attachments)):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            with open(os.path.join(d, "%05d.eml" % i), "wb") as f:
                f.write(fn(rnd, i))


if __name__ == "__main__":
    main()
