#!/usr/bin/python3
"""gen_corpus.py - the INBOX of bench/imap: N realistic messages, fixed seed.

make_corpus(n, to_addr, word, hits) returns (messages, expected): a list of
n messages (bytes, CRLF) and the 0-based indices of those containing WORD
(exactly HITS of them, spread over the mailbox; one in a Subject, one in an
HTML part, the others in text/plain bodies, never split by an encoding).

The mix (by message):
  ~79%  text/plain, or multipart/alternative text + HTML (quoted-
        printable), 1-30 KiB
   12%  multipart/mixed with one or two base64 attachments (PDF, PNG,
        DOCX-like bytes) of 4-100 KiB
    5%  a forward: multipart/mixed with a message/rfc822 part
    3%  replies in threads (In-Reply-To, References, "Re:" subjects)
        -- overlapping with the above
  0.2%  a large attachment of 1-1.5 MiB
Headers: a Received chain, DKIM-Signature, From/To/Cc with display names
(some RFC 2047 encoded, some UTF-8 words), Date over a year, Message-ID,
List-Id on mailing-list mail.  Stdlib only.  Written for postino.

Run directly to write the corpus as files: gen_corpus.py N OUTDIR
"""
import base64
import os
import random
import sys

WORDS = ("the of and to in is that for it as was with be by on not this "
         "are or from at which but have an they you were all there would "
         "their we been has when who will more meeting report invoice "
         "attached please find below schedule budget review project team "
         "customer delivery update quarterly forecast agenda minutes "
         "release version server network backup storage contract "
         "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber Stra\u00dfe "
         "tomorrow monday friday thanks regards").split()
FIRST = ("Alice Bob Carol Dave Eve Frank Grace Heidi Ivan Judy Mallory "
         "Niaj Olivia Peggy Rupert Sybil Trent Victor Walter Zo\u00eb "
         "J\u00fcrgen Fran\u00e7ois Ren\u00e9e").split()
LAST = ("Smith Jones Brown Garcia Miller Davis Martin Bernard M\u00fcller "
        "Rossi Novak Kowalski Silva Tanaka Dubois").split()
DOMAINS = ["example.com", "example.net", "example.org", "corp.test",
           "lists.example.org", "mail.vendor.test", "partner.test"]
LISTS = ["dev.lists.example.org", "announce.lists.example.org",
         "ops.lists.example.org"]
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()


def enc_word(s):
    """RFC 2047 B-encoding if not ASCII."""
    try:
        s.encode("ascii")
        return s
    except UnicodeEncodeError:
        return "=?UTF-8?B?%s?=" % base64.b64encode(s.encode()).decode()


def qp(text):
    """Quoted-printable of UTF-8 text, lines kept under 76 columns."""
    out = []
    for line in text.split("\n"):
        enc, col = [], 0
        for ch in line.encode():
            if (33 <= ch <= 126 and ch != 61) or ch == 32:
                piece = chr(ch)
            else:
                piece = "=%02X" % ch
            if col + len(piece) > 73:
                enc.append("=\r\n")
                col = 0
            enc.append(piece)
            col += len(piece)
        s = "".join(enc)
        if s.endswith(" "):
            s = s[:-1] + "=20"
        out.append(s)
    return "\r\n".join(out)


def b64(data):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + 76] for i in range(0, len(s), 76))


class Gen:
    def __init__(self, to_addr, seed=7):
        self.rnd = random.Random(seed)
        self.to = to_addr
        self.ids = []

    def person(self):
        r = self.rnd
        f, l = r.choice(FIRST), r.choice(LAST)
        return ("%s %s" % (f, l),
                "%s.%s@%s" % (f.lower().encode("ascii", "ignore").decode(),
                              l.lower().encode("ascii", "ignore").decode(),
                              r.choice(DOMAINS)))

    def addr(self, p):
        name, a = p
        return '%s <%s>' % (enc_word('"%s"' % name if "," in name else name),
                            a)

    def para(self, n):
        r = self.rnd
        words = [r.choice(WORDS) for _ in range(n)]
        lines, line = [], []
        for w in words:
            line.append(w)
            if sum(len(x) + 1 for x in line) > 68:
                lines.append(" ".join(line))
                line = []
        if line:
            lines.append(" ".join(line))
        return "\n".join(lines)

    def text_of_size(self, size):
        parts, total = [], 0
        while total < size:
            p = self.para(self.rnd.randint(20, 120))
            parts.append(p)
            total += len(p) + 2
        return "\n\n".join(parts)

    def header(self, i, subject, reply_to=None):
        r = self.rnd
        sender = self.person()
        h = []
        for k in range(r.randint(2, 5)):
            h.append("Received: from mx%d.%s (mx%d.%s [198.51.100.%d])\r\n"
                     "\tby mail.bench.test with ESMTPS id %08x\r\n"
                     "\tfor <%s>; %s" % (k, r.choice(DOMAINS), k,
                                         r.choice(DOMAINS), k + 1,
                                         r.getrandbits(32), self.to,
                                         self.date(i)))
        h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
                 "\td=%s; s=sel1; h=from:to:subject:date:message-id;\r\n"
                 "\tbh=%s;\r\n\tb=%s" % (sender[1].split("@")[1],
                                         b64(r.randbytes(32)),
                                         b64(r.randbytes(256)).replace(
                                             "\r\n", "\r\n\t")))
        h.append("From: " + self.addr(sender))
        to = [("Bench User", self.to)] + [self.person() for _ in
                                          range(r.choice((0, 0, 0, 1, 3)))]
        h.append("To: " + ",\r\n\t".join(self.addr(p) for p in to))
        if r.random() < 0.3:
            h.append("Cc: " + ",\r\n\t".join(
                self.addr(self.person()) for _ in range(r.randint(1, 4))))
        h.append("Subject: " + " ".join(enc_word(w) for w in
                                        subject.split(" ")))
        h.append("Date: " + self.date(i))
        mid = "<%d.%08x@%s>" % (i, r.getrandbits(32), sender[1].split("@")[1])
        self.ids.append(mid)
        h.append("Message-ID: " + mid)
        if reply_to is not None:
            h.append("In-Reply-To: " + self.ids[reply_to])
            h.append("References: " + self.ids[reply_to])
        if r.random() < 0.2:
            h.append("List-Id: <%s>" % r.choice(LISTS))
            h.append("List-Unsubscribe: <mailto:leave@%s>" % r.choice(LISTS))
        h.append("MIME-Version: 1.0")
        return h

    def date(self, i):
        # a year of mail, in order: message i on day i * 365 / n
        d = i * 365 // max(self.n, 1)
        month, day = min(d // 31, 11), d % 28 + 1
        return "%s, %d %s 2026 %02d:%02d:%02d +0000" % (
            DAYS[d % 7], day, MONTHS[month], (i * 7) % 24, (i * 13) % 60,
            (i * 17) % 60)

    def message(self, i, word=None, where=None):
        r = self.rnd
        reply = None
        if i > 10 and r.random() < 0.03:
            reply = r.randrange(max(0, i - 200), i)
        subject = self.para(r.randint(3, 9)).replace("\n", " ")
        if reply is not None:
            subject = "Re: " + subject
        if where == "subject":
            subject += " " + word
        h = self.header(i, subject, reply)
        size = int(min(30 * 1024, max(1024, r.lognormvariate(8.6, 0.7))))
        text = self.text_of_size(size)
        if where == "text":
            cut = text.rfind("\n\n", 0, len(text) // 2)
            text = text[:cut + 2] + "see the %s notes\n" % word + \
                text[cut + 2:]
        kind = r.random()
        if kind < 0.002:
            att = [(1024 * 1024 + r.randrange(512 * 1024), "application/pdf",
                    "scan.pdf")]
        elif kind < 0.122:
            att = [(r.randint(4, 100) * 1024,
                    r.choice(("application/pdf", "image/png",
                              "application/vnd.openxmlformats-"
                              "officedocument.wordprocessingml.document")),
                    r.choice(("report.pdf", "photo.png", "notes.docx",
                              "R\u00e9sum\u00e9.pdf")))
                   for _ in range(r.choice((1, 1, 1, 2)))]
        else:
            att = []
        forward = not att and kind > 0.95 and i > 0
        html = r.random() < 0.6 or where == "html"
        if where == "html":
            body_html = ("<html><body><p>%s</p><p>%s in bold: <b>%s</b></p>"
                         "</body></html>" % (
                             text.replace("\n\n", "</p><p>"), "and", word))
        else:
            body_html = "<html><body><p>%s</p></body></html>" % \
                text.replace("\n\n", "</p><p>")
        tpart = ("Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
                 qp(text) + "\r\n")
        if html:
            hpart = ("Content-Type: text/html; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
                     qp(body_html) + "\r\n")
            b = "=_alt_%08x" % r.getrandbits(32)
            inner = ("Content-Type: multipart/alternative; boundary=\"%s\""
                     "\r\n\r\n--%s\r\n%s--%s\r\n%s--%s--\r\n"
                     % (b, b, tpart, b, hpart, b))
        else:
            inner = tpart
        if not att and not forward:
            return ("\r\n".join(h) + "\r\n" + inner).encode()
        b = "=_mix_%08x" % r.getrandbits(32)
        parts = [inner]
        for size, ctype, name in att:
            fn = enc_word(name)
            parts.append("Content-Type: %s; name=\"%s\"\r\n"
                         "Content-Disposition: attachment; filename=\"%s\""
                         "\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n"
                         % (ctype, fn, fn, b64(r.randbytes(size))))
        if forward:
            j = r.randrange(0, i)
            inner_h = ["From: " + self.addr(self.person()),
                       "To: " + self.addr(self.person()),
                       "Subject: " + self.para(4).replace("\n", " "),
                       "Date: " + self.date(j),
                       "Message-ID: " + self.ids[j],
                       "MIME-Version: 1.0",
                       "Content-Type: text/plain; charset=utf-8"]
            parts.append("Content-Type: message/rfc822\r\n"
                         "Content-Disposition: inline\r\n\r\n" +
                         "\r\n".join(inner_h) + "\r\n\r\n" +
                         self.para(200).replace("\n", "\r\n") + "\r\n")
        body = "".join("--%s\r\n%s" % (b, p) for p in parts) + \
            "--%s--\r\n" % b
        return ("\r\n".join(h) + "\r\nContent-Type: multipart/mixed; "
                "boundary=\"%s\"\r\n\r\n"
                "This is a multi-part message in MIME format.\r\n\r\n%s"
                % (b, body)).encode()


def make_corpus(n, to_addr, word, hits):
    g = Gen(to_addr)
    g.n = n
    rnd = random.Random(99)
    spots = sorted(rnd.sample(range(n), hits))
    where = {}
    for k, idx in enumerate(spots):
        where[idx] = "subject" if k == 0 else "html" if k == 1 else "text"
    msgs = [g.message(i, word, where.get(i)) for i in range(n)]
    return msgs, spots


if __name__ == "__main__":
    count, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    ms, hit = make_corpus(count, "bench@imap-bench.test", "zanzibarquokka",
                          7)
    for i, m in enumerate(ms):
        with open(os.path.join(outdir, "%05d.eml" % i), "wb") as f:
            f.write(m)
    print("%d messages, %.1f MB, word in %s" % (
        len(ms), sum(map(len, ms)) / 1e6, hit))
