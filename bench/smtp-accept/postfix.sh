# postfix.sh - a private Postfix instance for the smtp-accept benchmark.
# Sourced by bench/smtp-accept/run.
#
# The instance lives entirely under one directory (config, queue, data,
# log, mailboxes), listens on 127.0.0.1:PORT only, and delivers mail for
# the bench domain with virtual(8) into one Maildir. Everything that
# decides durability (fsync of the queue file by cleanup(8), of the
# Maildir file by virtual(8)) is left at Postfix's defaults. The system
# Postfix (/etc/postfix, /var/spool/postfix) is neither used nor touched.
#
# Interface used by run (same for postino.sh):
#   postfix_setup DIR PORT    write the config and empty state under DIR
#   postfix_start DIR CGROUP  start it (inside CGROUP when not empty)
#   postfix_count DIR         print the number of messages delivered
#   postfix_stop DIR          stop it (safe to call twice / when not running)
#   postfix_check DIR         print problems: mail left in the queue, log
#                             warnings, a delivered file shorter than the body

# Mail for the benchmark goes to $BENCH_RCPT (user@bench.test); the
# mailbox files are owned by this existing unprivileged account.
PF_VUSER=nobody

postfix_setup()
{
	local dir=$1 port=$2 uid gid
	uid=$(id -u "$PF_VUSER") || die "no user $PF_VUSER"
	gid=$(id -g "$PF_VUSER")
	mkdir -p "$dir/etc" "$dir/spool" "$dir/data" "$dir/vmail"
	chown postfix "$dir/data"
	chown "$uid:$gid" "$dir/vmail"
	chmod 755 "$dir" "$dir/etc" "$dir/spool"

	cat > "$dir/etc/main.cf" <<EOF
# Private Postfix for bench/smtp-accept (generated; do not edit).
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
multi_instance_enable = no

myhostname = mx.postfix-bench.test
mydomain = postfix-bench.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
biff = no
smtpd_banner = \$myhostname ESMTP

# Delivery: one virtual mailbox, a Maildir (trailing slash).
virtual_mailbox_domains = ${BENCH_RCPT#*@}
virtual_mailbox_base = $dir/vmail
virtual_mailbox_maps = inline:{ $BENCH_RCPT=${BENCH_RCPT#*@}/${BENCH_RCPT%@*}/ }
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid

# Log to a file (via postlogd) so failures can be diagnosed; this is the
# work syslog would otherwise do outside Postfix.
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
EOF

	# master.cf: the stock set of services, no chroot (the queue is not
	# set up as a chroot jail), smtpd on the benchmark port only.
	cat > "$dir/etc/master.cf" <<EOF
# service  type  private unpriv chroot wakeup maxproc command
127.0.0.1:$port inet n - n - - smtpd
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 300  1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
local      unix  - n n -    - local
virtual    unix  - n n -    - virtual
lmtp       unix  - - n -    - lmtp
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
}

postfix_start()
{
	local dir=$1 cg=$2
	(
		if [ -n "$cg" ]; then
			echo "$BASHPID" > "$cg/cgroup.procs" || exit 1
		fi
		exec postfix -c "$dir/etc" start
	) > "$dir/start.log" 2>&1 || {
		cat "$dir/start.log" >&2
		return 1
	}
}

postfix_count()
{
	local new="$1/vmail/${BENCH_RCPT#*@}/${BENCH_RCPT%@*}/new"
	[ -d "$new" ] || { echo 0; return; }
	find "$new" -mindepth 1 -maxdepth 1 -type f | wc -l
}

postfix_stop()
{
	local dir=$1
	[ -f "$dir/etc/main.cf" ] || return 0
	postfix -c "$dir/etc" status > /dev/null 2>&1 || return 0
	postfix -c "$dir/etc" stop > /dev/null 2>&1
	# postfix stop returns before all children are gone; wait for master.
	local i=0
	while postfix -c "$dir/etc" status > /dev/null 2>&1 && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

postfix_check()
{
	local dir=$1 left one
	one=$(find "$dir/vmail" -path '*/new/*' -type f -print -quit)
	if [ -n "$one" ] && [ "$(stat -c %s "$one")" -lt "$SIZE" ]; then
		echo "postfix: $(basename "$one") is shorter than the $SIZE-byte body"
	fi
	left=$(find "$dir/spool/incoming" "$dir/spool/active" \
	    "$dir/spool/deferred" "$dir/spool/maildrop" "$dir/spool/hold" \
	    -type f 2>/dev/null | wc -l)
	[ "$left" -eq 0 ] || echo "postfix: $left message(s) still queued"
	if [ -f "$dir/maillog" ]; then
		grep -E ' (warning|error|fatal|panic):|status=(deferred|bounced)' \
		    "$dir/maillog" | sed -E 's/^.* postfix\///; s/\[[0-9]+\]//;
		    s/[0-9A-F]{10,}/ID/' | sort | uniq -c | sort -rn | head -5 |
		    sed -E 's/^ +/postfix log: /'
	fi
}
