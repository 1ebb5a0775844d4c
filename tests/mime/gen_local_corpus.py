#!/usr/bin/python3
"""gen_local_corpus.py - write the hand-made edge-case messages of
tests/data/mime/local/ (each one exercises one structural case of the
parser).  Run once; the output is committed.  Written for postino."""
import base64
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "..", "data", "mime", "local")

M = {}

M["01-simple-crlf.eml"] = (
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject: hello\r\n"
    b"Date: Mon, 2 Mar 2026 10:00:00 +0100\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"\r\n"
    b"Hello Bob.\r\nSecond line.\r\n")

M["02-bare-lf.eml"] = (
    b"From: alice@example.org\n"
    b"To: Bob <bob@example.net>, carol@example.net\n"
    b"Subject: bare LF\n"
    b" folded subject\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"\n"
    b"line 1\nline 2\nline 3\n")

M["03-nested-prefix-boundaries.eml"] = (
    b"From: a@example.org\r\n"
    b"Subject: prefix boundaries\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"abc\"\r\n"
    b"\r\n"
    b"preamble text\r\n"
    b"--abc\r\n"
    b"Content-Type: multipart/alternative; boundary=\"abcdef\"\r\n"
    b"\r\n"
    b"--abcdef\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"plain version\r\n"
    b"--abcdef\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<p>html version</p>\r\n"
    b"--abcdef--\r\n"
    b"inner epilogue\r\n"
    b"--abc\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    b"\r\n"
    + base64.encodebytes(bytes(range(256))).replace(b"\n", b"\r\n") +
    b"--abc--\r\n"
    b"outer epilogue\r\n")

M["04-missing-final-boundary.eml"] = (
    b"From: a@example.org\n"
    b"Subject: no close delimiter\n"
    b"Content-Type: multipart/mixed; boundary=XyZ\n"
    b"\n"
    b"--XyZ\n"
    b"\n"
    b"first part, default type\n"
    b"--XyZ\n"
    b"Content-Type: text/plain; charset=iso-8859-1\n"
    b"Content-Transfer-Encoding: quoted-printable\n"
    b"\n"
    b"caf=e9 =3d soft=\n"
    b"break, lower=e9=c3=a9\n")

M["05-digest.eml"] = (
    b"From: list@example.org\r\n"
    b"Subject: digest\r\n"
    b"Content-Type: multipart/digest; boundary=\"---- next ----\"\r\n"
    b"\r\n"
    b"------ next ----\r\n"
    b"\r\n"
    b"From: one@example.org\r\n"
    b"Subject: first\r\n"
    b"\r\n"
    b"first message\r\n"
    b"------ next ----\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"explicitly typed\r\n"
    b"------ next ------\r\n")

M["06-rfc822-inside.eml"] = (
    b"From: Fwd Er <fwd@example.org>\r\n"
    b"To: Group: x@example.net, y@example.net;, z@example.net\r\n"
    b"Cc: undisclosed-recipients:;\r\n"
    b"Subject: Fwd: inner\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    b"\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"see attached\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"Content-Description: forwarded message\r\n"
    b"\r\n"
    b"From: \"Inner, Person\" <inner@example.com>\r\n"
    b"Subject: inner\r\n"
    b"Date: Tue, 3 Mar 2026 11:00:00 +0000\r\n"
    b"Content-Type: multipart/alternative; boundary=in\r\n"
    b"\r\n"
    b"--in\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"inner text\r\n"
    b"--in\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<b>inner</b>\r\n"
    b"--in--\r\n"
    b"\r\n"
    b"--outer--\r\n")

M["07-rfc2231.eml"] = (
    b"From: a@example.org\r\n"
    b"Subject: RFC 2231\r\n"
    b"Content-Type: multipart/mixed; boundary=b1\r\n"
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: application/pdf;\r\n"
    b" name*0*=utf-8''r%C3%A9sum%C3%A9%20;\r\n"
    b" name*1=\"final version.pdf\"\r\n"
    b"Content-Disposition: attachment;\r\n"
    b" filename*=iso-8859-1'fr'r%E9sum%E9.pdf; size=42\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQKJcOkw7zDtsOf\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; name*0=\"long \"; name*1=\"name.txt\"\r\n"
    b"Content-Disposition: inline\r\n"
    b"\r\n"
    b"text\r\n"
    b"--b1--\r\n")

M["08-rfc2047.eml"] = (
    b"From: =?utf-8?q?Andr=C3=A9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n"
    b"To: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>\r\n"
    b"Subject: =?utf-8?b?w6lsw6h2ZQ==?= =?utf-8?b?IGV0IG1h?=\r\n"
    b" =?utf-8?q?=C3=AEtre?= plain =?x-unknown?q?left_alone?=\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"\xc3\xa9l\xc3\xa8ve\r\n")

M["09-uuencode.eml"] = (
    b"From: old@example.org\r\n"
    b"Subject: uuencoded\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: x-uuencode\r\n"
    b"\r\n"
    b"begin 644 hello.txt\r\n"
    b".2&5L;&\\L('=O<FQD(0H`\r\n"
    b"`\r\n"
    b"end\r\n")

M["10-no-boundary.eml"] = (
    b"From: a@example.org\r\n"
    b"Subject: multipart without boundary\r\n"
    b"Content-Type: multipart/mixed\r\n"
    b"\r\n"
    b"--foo\r\n"
    b"not really parts\r\n")

M["11-header-only.eml"] = (
    b"From: a@example.org\r\n"
    b"Subject: no body\r\n")

M["12-addresses.eml"] = (
    b"From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
    b"Sender: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n"
    b"Reply-To: <@route.example,@other.example:user@target.example>\r\n"
    b"To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n"
    b"Cc: Mary Smith <mary@x.test>, jdoe@example.org (John Doe), nodomain\r\n"
    b"Bcc: \r\n"
    b"Subject: addresses\r\n"
    b"In-Reply-To: <a@b.example> <c@d.example>\r\n"
    b"Message-ID: <e@f.example>\r\n"
    b"Date: 21 Nov 97 09:55:06 GMT\r\n"
    b"\r\n"
    b"body\r\n")

M["13-extension-fields.eml"] = (
    b"From: a@example.org\r\n"
    b"Subject: extension data\r\n"
    b"Content-Type: multipart/related; boundary=\"rel\"; type=\"text/html\"\r\n"
    b"Content-Language: en, fr\r\n"
    b"Content-Location: http://example.org/doc\r\n"
    b"\r\n"
    b"--rel\r\n"
    b"Content-Type: text/html; charset=\"UTF-8\"\r\n"
    b"Content-ID: <html@example.org>\r\n"
    b"Content-Description: the page\r\n"
    b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
    b"Content-Language: de\r\n"
    b"Content-Location: page.html\r\n"
    b"Content-Disposition: inline; filename=page.html\r\n"
    b"\r\n"
    b"<html><img src=\"cid:img@example.org\"></html>\r\n"
    b"--rel\r\n"
    b"Content-Type: image/png\r\n"
    b"Content-ID: <img@example.org>\r\n"
    b"Content-Transfer-Encoding: BASE64\r\n"
    b"\r\n"
    b"iVBORw0KGgo=\r\n"
    b"--rel--\r\n")

M["14-8bit-header.eml"] = (
    b"From: J\xc3\xb6rg <joerg@example.org>\r\n"
    b"Subject: Gr\xc3\xbc\xc3\x9fe\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Gr\xc3\xbc\xc3\x9fe\r\n")

M["15-empty.eml"] = b""

M["16-boundary-in-preamble-and-junk.eml"] = (
    b"Subject: tricky\r\n"
    b"Content-Type: multipart/mixed; boundary=\"=_b\"\r\n"
    b"\r\n"
    b"--=_bX not a boundary\r\n"
    b"--=_b \t\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"-- \r\n"
    b"signature-like line, then a near miss:\r\n"
    b"--=_b-\r\n"
    b"--=_b--trailing junk after close\r\n"
    b"epilogue\r\n")

M["17-base64-junk.eml"] = (
    b"Subject: base64 with junk\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"SGVs bG8g\r\n"
    b"d29y!!bGQ=\r\n"
    b"\r\n")

M["18-mime-header-no-blank.eml"] = (
    b"Subject: part header runs into boundary\r\n"
    b"Content-Type: multipart/mixed; boundary=zz\r\n"
    b"\r\n"
    b"--zz\r\n"
    b"Content-Type: text/plain\r\n"
    b"--zz\r\n"
    b"\r\n"
    b"second\r\n"
    b"--zz--\r\n")

M["19-message-global.eml"] = (
    b"Subject: global\r\n"
    b"Content-Type: message/global\r\n"
    b"\r\n"
    b"From: =?utf-8?q?x?= <x@example.org>\r\n"
    b"Subject: inner \xc3\xa9\r\n"
    b"\r\n"
    b"inner body\r\n")

M["20-obsolete-syntax.eml"] = (
    b"From : old style <old@example.org>\r\n"
    b"Subject:\r\n"
    b" starts on the next line\r\n"
    b"To: <a@example.org>, (comment only) b@example.org\r\n"
    b"Content-Type: TEXT/PLAIN (plain text); CHARSET=US-ASCII (ascii)\r\n"
    b"\r\n"
    b"x\r\n")

M["21-quoting.eml"] = (
    b"From: \"\" <empty-name@example.org>\r\n"
    b"To: \"quoted local\"@example.org, \"Back\\\\slash \\\"Q\\\"\" <bq@example.org>\r\n"
    b"Cc: Team: \"A. Person\" <a@example.org>, b@example.org;\r\n"
    b"Subject: a \"quoted\" \\ subject\r\n"
    b"Subject: second subject field\r\n"
    b"Message-ID: <first@example.org>\r\n"
    b"Message-ID: <second@example.org>\r\n"
    b"Date: Mon, 2 Mar 2026\r\n 10:00:00 +0100\r\n"
    b"\r\n"
    b"x\r\n")

M["22-disposition-case.eml"] = (
    b"Subject: disposition and parameters\r\n"
    b"Content-Type: multipart/mixed; BOUNDARY=\"XX\"\r\n"
    b"\r\n"
    b"--XX\r\n"
    b"Content-Type: Application/Octet-Stream; Name=\"caf\xc3\xa9.bin\"\r\n"
    b"Content-Disposition: ATTACHMENT; FileName=\"caf\xc3\xa9.bin\"\r\n"
    b"Content-Transfer-Encoding: Base64\r\n"
    b"Content-Language: en (English), de\r\n"
    b"\r\n"
    b"AAEC\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n"
    b"Content-Description: =?utf-8?q?caf=C3=A9?=\r\n"
    b"Content-ID: <x@y>\r\n"
    b"\r\n"
    b"flowed \r\ntext\r\n"
    b"--XX--\r\n")

M["23-no-header.eml"] = (
    b"\r\n"
    b"A message with an empty header.\r\n")

M["24-nested-messages.eml"] = (
    b"Subject: level 0\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: level 1\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: level 2\r\n"
    b"Content-Type: multipart/mixed; boundary=q\r\n"
    b"\r\n"
    b"--q\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: level 4\r\n"
    b"\r\n"
    b"deep\r\n"
    b"--q--\r\n")

M["25-empty-parts.eml"] = (
    b"Subject: empty parts and empty preamble\r\n"
    b"Content-Type: multipart/alternative; boundary=e\r\n"
    b"\r\n"
    b"--e\r\n"
    b"--e\r\n"
    b"\r\n"
    b"--e\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"\r\n"
    b"--e--")

M["26-address-edge.eml"] = (
    b"From: <>\r\n"
    b"Sender: @example.org\r\n"
    b"Reply-To: user@\r\n"
    b"To: Some One <some.one@[192.0.2.1]>, <a@b> (comment name)\r\n"
    b"Bcc: =?utf-8?q?Gr=C3=BC=C3=9Fe?= <g@example.org>\r\n"
    b"In-Reply-To: <x@y>\r\n"
    b"Subject: \r\n"
    b"\r\n"
    b"x\r\n")

M["27-lf-multipart.eml"] = (
    b"Subject: bare LF multipart\n"
    b"Content-Type: multipart/mixed; boundary=lf\n"
    b"\n"
    b"preamble\n"
    b"--lf\n"
    b"Content-Type: text/plain\n"
    b"\n"
    b"one\n"
    b"two\n"
    b"--lf\n"
    b"Content-Type: message/rfc822\n"
    b"\n"
    b"Subject: inner\n"
    b"\n"
    b"three\n"
    b"--lf--\n"
    b"epilogue\n")

M["28-duplicate-mime-fields.eml"] = (
    b"Subject: duplicate MIME fields\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: inline\r\n"
    b"Content-Disposition: attachment; filename=x\r\n"
    b"Content-ID: <one@x>\r\n"
    b"Content-ID: <two@x>\r\n"
    b"Content-Description: one\r\n"
    b"Content-Description: two\r\n"
    b"Content-Language: en\r\n"
    b"Content-Language: fr\r\n"
    b"Content-Location: one\r\n"
    b"Content-Location: two\r\n"
    b"Content-MD5: one\r\n"
    b"Content-MD5: two\r\n"
    b"\r\n"
    b"caf=E9\r\n")

M["29-params-edge.eml"] = (
    b"Subject: parameter edge cases\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b\"; ;; junk; x=\r\n"
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=\"\"; name=\"a;b.txt\"\r\n"
    b"Content-Disposition: attachment; filename*0=\"a\"; filename*1=\"b\";\r\n"
    b"  filename=\"plain.txt\"\r\n"
    b"\r\n"
    b"x\r\n"
    b"--b\r\n"
    b"Content-Type: application/x; a*=utf-8''%41; b*0*=utf-8''%42; b*1*=%43\r\n"
    b"Content-Disposition: inline;\r\n"
    b"\r\n"
    b"y\r\n"
    b"--b--\r\n")

M["30-message-no-ct-in-mixed.eml"] = (
    b"Subject: message parts\r\n"
    b"Content-Type: multipart/mixed; boundary=m\r\n"
    b"\r\n"
    b"--m\r\n"
    b"Content-Type: message/rfc822; name=fwd.eml\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"Content-Disposition: attachment; filename=fwd.eml\r\n"
    b"\r\n"
    b"From: a@example.org\r\n"
    b"To: b@example.org\r\n"
    b"Subject: forwarded\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"\xc3\xa9\r\n"
    b"--m\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; mx.example.org\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; x@example.org\r\n"
    b"Action: failed\r\n"
    b"--m--\r\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(M.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d messages to %s" % (len(M), OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
