"""End-to-end: SEARCH, SORT and THREAD through the real server with
Python's imaplib: messages APPENDed with internal dates (quoted-printable
Latin-1, base64 UTF-8, an attachment, a nested message, a reply thread),
then string keys over decoded headers and bodies (the full-text index
narrowing, SEARCH confirming), date, size, flag and keyword keys, OR/NOT,
CHARSET UTF-8 literals, SEARCHRES "$", SORT by every key and THREAD with
both algorithms (sequence numbers and UIDs).
"""
import imaplib

import pytest

from conftest import free_port

PW = "secret-pw"
ALICE = "alice@local.test"

MSGS = [
    # 1: plain, the start of a thread
    (b"From: Alice Example <alice@example.org>\r\n"
     b"To: Bob <bob@example.com>\r\n"
     b"Cc: carol@example.net\r\n"
     b"Subject: Budget meeting\r\n"
     b"Date: Mon, 7 Feb 2022 21:52:25 -0800\r\n"
     b"Message-ID: <t1@example.org>\r\n"
     b"\r\n"
     b"Let us discuss the budget tomorrow.\r\n",
     "08-Feb-2022 05:52:25 +0000"),
    # 2: quoted-printable Latin-1, RFC 2047 words, a reply to 1
    (b"From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>\r\n"
     b"To: alice@example.org\r\n"
     b"Subject: Re: =?ISO-8859-1?Q?Budget_meeting?=\r\n"
     b"Date: Tue, 8 Feb 2022 09:00:00 +0100\r\n"
     b"Message-ID: <t2@example.fr>\r\n"
     b"References: <t1@example.org>\r\n"
     b"MIME-Version: 1.0\r\n"
     b"Content-Type: text/plain; charset=iso-8859-1\r\n"
     b"Content-Transfer-Encoding: quoted-printable\r\n"
     b"\r\n"
     b"Le caf=E9 est pr=EAt, la r=E9union aussi.\r\n",
     "08-Feb-2022 08:00:00 +0000"),
    # 3: multipart, base64 UTF-8 text and a PDF attachment
    (b"From: Dave <dave@example.com>\r\n"
     b"To: alice@example.org\r\n"
     b"Subject: [list] Report\r\n"
     b"Date: Wed, 9 Feb 2022 12:00:00 +0000\r\n"
     b"Message-ID: <r1@example.com>\r\n"
     b"X-Spam-Flag: YES\r\n"
     b"MIME-Version: 1.0\r\n"
     b"Content-Type: multipart/mixed; boundary=\"b\"\r\n"
     b"\r\n"
     b"--b\r\n"
     b"Content-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: base64\r\n"
     b"\r\n"
     b"R3LDvMOfZSBhdXMgS8O2bG4=\r\n"
     b"--b\r\n"
     b"Content-Type: application/pdf; name=\"quarterly.pdf\"\r\n"
     b"Content-Transfer-Encoding: base64\r\n"
     b"\r\n"
     b"JVBERi0xLjQKc2VjcmV0\r\n"
     b"--b--\r\n",
     "09-Feb-2022 12:00:00 +0000"),
    # 4: a forwarded message inside, a reply to 2 (no Date: field)
    (b"From: Zed <zed@example.net>\r\n"
     b"To: \"Anna\" <anna@example.net>\r\n"
     b"Subject: Fwd: old news\r\n"
     b"Message-ID: <t3@example.net>\r\n"
     b"In-Reply-To: <t2@example.fr>\r\n"
     b"MIME-Version: 1.0\r\n"
     b"Content-Type: multipart/mixed; boundary=x\r\n"
     b"\r\n"
     b"--x\r\n"
     b"Content-Type: message/rfc822\r\n"
     b"\r\n"
     b"Subject: inner secret\r\n"
     b"Content-Type: text/plain; charset=utf-8\r\n"
     b"\r\n"
     b"\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2 world\r\n"
     b"--x--\r\n",
     "10-Feb-2022 10:00:00 +0000"),
]


@pytest.fixture
def imap(make_server):
    s = make_server()
    s.imap_port = free_port()
    s.set_listen("imap", "127.0.0.1:%d" % s.imap_port)
    s.add_user(ALICE, PW)
    return s.start()


def ok(res):
    typ, data = res
    assert typ == "OK", (typ, data)
    return data


def nums(res):
    data = ok(res)
    return [int(x) for x in b" ".join(d for d in data if d).split()]


@pytest.fixture
def mbox(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port, timeout=30)
    m.login(ALICE, PW)
    for body, date in MSGS:
        ok(m.append("INBOX", None, '"%s"' % date, body))
    ok(m.select("INBOX"))
    ok(m.store("1", "+FLAGS", "(\\Flagged)"))
    ok(m.store("2", "+FLAGS", "(\\Seen $Important)"))
    yield m
    m.logout()


def search(m, *crit):
    return nums(m.search(None, *crit))


def search_utf8(m, key, value):
    m.literal = value.encode()
    return nums(m.search("UTF-8", key))


def test_string_keys(mbox):
    m = mbox
    assert search(m, "FROM", "alice") == [1]
    assert search(m, "FROM", "example") == [1, 2, 3, 4]
    assert search(m, "TO", "anna") == [4]
    assert search(m, "CC", "carol") == [1]
    assert search(m, "SUBJECT", "budget") == [1, 2]
    assert search(m, "SUBJECT", '"BUDGET MEETING"') == [1, 2]
    assert search(m, "SUBJECT", "secret") == []
    assert search(m, "HEADER", "X-Spam-Flag", "yes") == [3]
    assert search(m, "HEADER", "X-Spam-Flag", '""') == [3]
    assert search(m, "HEADER", "In-Reply-To", '""') == [4]
    assert search(m, "BODY", "budget") == [1]
    assert search(m, "BODY", "quarterly.pdf") == [3]
    assert search(m, "BODY", "secret") == [4]      # the nested header
    assert search(m, "BODY", "JVBER") == []        # no raw base64
    assert search(m, "TEXT", "dave") == [3]
    assert search(m, "TEXT", "nothing-of-the-sort") == []


def test_decoded_utf8_keys(mbox):
    m = mbox
    assert search_utf8(m, "FROM", "andr\u00e9") == [2]
    assert search_utf8(m, "FROM", "ANDR\u00c9") == [2]
    assert search_utf8(m, "BODY", "caf\u00e9 est pr\u00eat") == [2]
    assert search_utf8(m, "BODY", "R\u00c9UNION") == [2]
    assert search_utf8(m, "BODY", "gr\u00fc\u00dfe aus k\u00f6ln") == [3]
    assert search_utf8(m, "TEXT", "\u043f\u0440\u0438\u0432\u0435\u0442") \
        == [4]
    typ, data = m.search("KOI8-R", "BODY", "x")
    assert typ == "NO", data


def test_other_keys(mbox):
    m = mbox
    assert search(m, "FLAGGED") == [1]
    assert search(m, "SEEN") == [2]
    assert search(m, "UNSEEN") == [1, 3, 4]
    assert search(m, "KEYWORD", "$Important") == [2]
    assert search(m, "UNKEYWORD", "$Important") == [1, 3, 4]
    assert search(m, "ON", "08-Feb-2022") == [1, 2]
    assert search(m, "SINCE", "09-Feb-2022") == [3, 4]
    assert search(m, "BEFORE", "09-Feb-2022") == [1, 2]
    assert search(m, "SENTON", "07-Feb-2022") == [1]
    assert search(m, "SENTSINCE", "08-Feb-2022") == [2, 3]   # 4: no Date
    assert search(m, "NOT", "SENTSINCE", "08-Feb-2022") == [1, 4]
    sizes = {}
    for i in range(1, 5):
        data = ok(m.fetch(str(i), "(RFC822.SIZE)"))[0]
        sizes[i] = int(data.split(b"RFC822.SIZE ")[1].rstrip(b")"))
    mid = sorted(sizes.values())[1]
    assert search(m, "LARGER", str(mid)) == \
        sorted(i for i in sizes if sizes[i] > mid)
    assert search(m, "SMALLER", str(mid)) == \
        sorted(i for i in sizes if sizes[i] < mid)
    assert search(m, "OR", "FLAGGED", "SEEN") == [1, 2]
    assert search(m, "NOT", "OR", "FLAGGED", "SEEN") == [3, 4]
    assert search(m, "2:*", "NOT", "3") == [2, 4]
    uids = nums(m.uid("SEARCH", "ALL"))
    assert nums(m.uid("SEARCH", "UID", "%d:*" % uids[2])) == uids[2:]
    assert nums(m.uid("SEARCH", "UID", "%d:*" % (uids[3] + 100))) == \
        [uids[3]]


def test_searchres(mbox):
    m = mbox
    typ, data = m._simple_command("SEARCH", "RETURN", "(SAVE)", "BODY",
                                  "budget", "OR", "FROM", "dave", "ALL")
    assert typ == "OK", data
    assert search(m, "$") == [1]
    assert search(m, "NOT", "$") == [2, 3, 4]


def sort(m, crit):
    typ, data = m.sort(crit, "UTF-8", "ALL")
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


def test_sort(mbox):
    m = mbox
    # base subjects: budget meeting (1, 2), old news (4), report (3)
    assert sort(m, "(SUBJECT)") == [1, 2, 4, 3]
    assert sort(m, "(REVERSE SUBJECT)") == [3, 4, 1, 2]
    assert sort(m, "(ARRIVAL)") == [1, 2, 3, 4]
    assert sort(m, "(REVERSE ARRIVAL)") == [4, 3, 2, 1]
    # sent: 1 2022-02-08 05:52Z, 2 2022-02-08 08:00Z, 3 2022-02-09,
    # 4 (no Date) its internal date 2022-02-10
    assert sort(m, "(DATE)") == [1, 2, 3, 4]
    assert sort(m, "(FROM)") == [1, 2, 3, 4]   # alice andre dave zed
    assert sort(m, "(TO)") == [2, 3, 4, 1]     # alice alice anna bob
    assert sort(m, "(CC)") == [2, 3, 4, 1]     # "" "" "" carol
    # display names: Alice Example, Andre (decoded), Dave, Zed
    assert sort(m, "(DISPLAYFROM)") == [1, 2, 3, 4]
    # alice@example.org x2, Anna, Bob
    assert sort(m, "(DISPLAYTO)") == [2, 3, 4, 1]
    typ, data = m.uid("SORT", "(REVERSE DATE)", "UTF-8", "ALL")
    assert typ == "OK", data
    uids = nums(m.uid("SEARCH", "ALL"))
    assert [int(x) for x in data[0].split()] == uids[::-1]
    assert sort(m, "(SIZE)") == sorted(
        range(1, 5), key=lambda i: (len(MSGS[i - 1][0]), i))


def test_thread(mbox):
    m = mbox
    typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK", data
    assert data[0] == b"(1 2 4)(3)"
    typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert typ == "OK", data
    # budget meeting: 1, 2; old news: 4; report: 3 (by first sent date)
    assert data[0] == b"(1 2)(3)(4)"
    uids = nums(m.uid("SEARCH", "ALL"))
    typ, data = m.uid("THREAD", "REFERENCES", "UTF-8", "ALL")
    assert typ == "OK", data
    assert data[0] == b"(%d %d %d)(%d)" % (uids[0], uids[1], uids[3],
                                            uids[2])
    typ, data = m.thread("REFERENCES", "UTF-8", "NOT", "2")
    assert typ == "OK", data
    # without 2, 4's parent is unknown: 1 and 4 stand apart
    assert data[0] == b"(1)(3)(4)"
