#!/bin/sh
# run-demo.sh - `make run`: a demo setup under ./var, served on localhost.
set -e
cd "$(dirname "$0")/.."
bin=build/postino
conf=var/postino.conf
if [ ! -f "$conf" ]; then
	$bin init --dir var --hostname mail.demo.test --domain demo.test \
		--port-offset 10000 >/dev/null
	pw=$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$pw" | $bin user add -c "$conf" demo@demo.test
	printf '%s\n' "$pw" > var/demo-password
	chmod 600 var/demo-password
	echo "created demo setup in ./var (domain demo.test)"
fi
# IMAP: `init` writes the imap/imaps lines commented out; serve them
if grep -q '^;imaps\? *=' "$conf"; then
	sed -i 's/^;\(imaps\{0,1\} *=\)/\1/' "$conf"
fi
pw=$(cat var/demo-password 2>/dev/null || echo '?')
listen() { sed -n "s/^$1 *= *//p" "$conf" | awk '{print $1}'; }
smtp=$(listen smtp)
sub=$(listen submission)
subs=$(listen submissions)
pop3=$(listen pop3)
pop3s=$(listen pop3s)
imap=$(listen imap)
imaps=$(listen imaps)
cat <<MSG

postino is starting on localhost.

  demo user      demo@demo.test
  password       $pw
  SMTP           $smtp   (no authentication needed for local recipients)
  submission     $sub (STARTTLS + AUTH), $subs (TLS + AUTH)
  POP3           $pop3 (STLS), $pop3s (TLS)
  IMAP           $imap (STARTTLS), $imaps (TLS)
  certificate    var/tls/cert.pem (self-signed)

  send a message:  swaks --server ${smtp%:*} --port ${smtp##*:} --to demo@demo.test
  or:              python3 -c 'import smtplib; smtplib.SMTP("${smtp%:*}", ${smtp##*:}).sendmail("you@example.test", ["demo@demo.test"], "Subject: hi\r\n\r\nhello\r\n")'
  see it:          $bin mailbox list -c $conf demo@demo.test
                   $bin mailbox cat -c $conf demo@demo.test INBOX 1
  the queue:       $bin queue list -c $conf
  send as demo:    swaks --server ${sub%:*} --port ${sub##*:} --tls --auth PLAIN \\
                     --auth-user demo@demo.test --auth-password $pw \\
                     --from demo@demo.test --to demo@demo.test
  read by POP3:    curl -k --ssl-reqd -u demo@demo.test:$pw pop3://${pop3}/1
  read by IMAP:    curl -k --ssl-reqd -u demo@demo.test:$pw 'imap://${imap}/INBOX;UID=1'
                   mutt -f imaps://demo%40demo.test@${imaps}/INBOX

Stop with Ctrl-C.
MSG
exec $bin serve -c "$conf"
