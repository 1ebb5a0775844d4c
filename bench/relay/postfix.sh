# postfix.sh - a private Postfix instance that relays for the relay
# benchmark. Sourced by bench/relay/run. Adapted from
# bench/smtp-accept/postfix.sh.
#
# The instance lives under one directory (config, queue, data, log),
# listens on 127.0.0.1:PORT only, accepts mail for $BENCH_RCPT (a virtual
# alias of $RELAY_RCPT, the remote address) and relays it with smtp(8) to
# smtp-sink through a transport map entry ([127.0.0.1]:SINK_PORT, no DNS).
# Queue file fsyncs by cleanup(8), concurrency (20 per destination), slow
# start and the connection cache are Postfix's defaults. The system
# Postfix (/etc/postfix, /var/spool/postfix) is neither used nor touched.
#
# Interface used by run (same for postino.sh):
#   postfix_setup DIR PORT SINK_PORT  write the config and empty state
#   postfix_start DIR CGROUP          start it (inside CGROUP when not empty)
#   postfix_stop DIR                  stop it (safe to call twice)
#   postfix_check DIR                 print problems: mail left in the
#                                     queue, log warnings, deferrals,
#                                     bounces, fewer status=sent than sent
#   postfix_notes DIR                 print remarks (qmgr congestion)

postfix_setup()
{
	local dir=$1 port=$2 sink_port=$3
	mkdir -p "$dir/etc" "$dir/spool" "$dir/data"
	chown postfix "$dir/data"
	chmod 755 "$dir" "$dir/etc" "$dir/spool"

	cat > "$dir/etc/main.cf" <<EOF
# Private Postfix for bench/relay (generated; do not edit).
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
multi_instance_enable = no

myhostname = mx.postfix-relay.test
mydomain = postfix-relay.test
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

# The submitted address is an alias of the remote one (as for postino).
virtual_alias_domains = ${BENCH_RCPT#*@}
virtual_alias_maps = inline:{ $BENCH_RCPT=$RELAY_RCPT }

# The remote domain's "MX": smtp-sink, without a DNS lookup.
transport_maps = inline:{ ${RELAY_RCPT#*@}=smtp:[127.0.0.1]:$sink_port }
smtp_tls_security_level = none

# Log to a file (via postlogd) so failures can be diagnosed.
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
EOF

	# master.cf: the stock set of services, no chroot, smtpd on the
	# benchmark port only.
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

postfix_stop()
{
	local dir=$1 i=0
	[ -f "$dir/etc/main.cf" ] || return 0
	postfix -c "$dir/etc" status > /dev/null 2>&1 || return 0
	postfix -c "$dir/etc" stop > /dev/null 2>&1
	# postfix stop returns before all children are gone; wait for master.
	while postfix -c "$dir/etc" status > /dev/null 2>&1 && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

# postfix_queued DIR: messages still in the queue.
postfix_queued()
{
	find "$1/spool/incoming" "$1/spool/active" "$1/spool/deferred" \
	    "$1/spool/maildrop" "$1/spool/hold" -type f 2>/dev/null | wc -l
}

# The block of advice qmgr(8) logs when one destination fills the whole
# active queue ("mail for X is using up 4001 of 4001 active queue
# entries", "you may need to increase ...", "lots of deferred mail" ...):
# a sign that delivery is the bottleneck, not a failure.
PF_CLOG_RE='postfix/qmgr\[[0-9]+\]: warning: '

postfix_check()
{
	local dir=$1 left sent
	left=$(postfix_queued "$dir")
	[ "$left" -eq 0 ] || echo "postfix: $left message(s) still queued"
	[ -f "$dir/maillog" ] || { echo "postfix: no maillog"; return; }
	sent=$(grep -c ' status=sent ' "$dir/maillog")
	[ "$sent" -eq "$MSGS" ] ||
		echo "postfix: the log shows $sent status=sent, not $MSGS"
	grep -E ' (warning|error|fatal|panic):|status=(deferred|bounced)' \
	    "$dir/maillog" | grep -Ev "$PF_CLOG_RE" |
	    sed -E 's/^.* postfix\///; s/\[[0-9]+\]//;
	    s/[0-9A-F]{10,}/ID/' | sort | uniq -c | sort -rn | head -5 |
	    sed -E 's/^ +/postfix log: /'
}

# postfix_notes DIR: remarks that do not make a run unclean.
postfix_notes()
{
	local n
	n=$(grep -Ec "$PF_CLOG_RE.*active queue entries" "$1/maillog" 2>/dev/null)
	[ "${n:-0}" -eq 0 ] ||
		echo "qmgr: one destination filled the active queue (${n}x)"
}
