# postino.sh - a throw-away postino for the smtp-accept benchmark.
# Sourced by bench/smtp-accept/run. Same interface as postfix.sh:
#   postino_setup DIR PORT    init DIR (config + data), add $BENCH_RCPT,
#                             keep only the smtp listener on 127.0.0.1:PORT
#   postino_start DIR CGROUP  start `postino serve` in the background (inside
#                             CGROUP when not empty); sets POSTINO_PID
#   postino_count DIR         print the number of messages in the mailboxes
#                             of $BENCH_RCPT (all mailboxes together)
#   postino_stop DIR          stop it (TERM, then KILL after 20 s)
#   postino_check DIR         print problems: queue not empty, log errors,
#                             mail filed outside INBOX, message 1 too short
# $POSTINO is the binary (build/postino by default).

POSTINO_PID=

postino_setup()
{
	local dir=$1 port=$2 conf
	conf="$dir/postino.conf"
	"$POSTINO" init --dir "$dir" --hostname mx.postino-bench.test \
	    --domain "${BENCH_RCPT#*@}" > "$dir/init.log" 2>&1 || {
		cat "$dir/init.log" >&2
		return 1
	}
	[ -f "$conf" ] || { note "postino init wrote no $conf"; return 1; }

	# Replace the [listen] section by the one SMTP listener we measure.
	awk -v listen="smtp = 127.0.0.1:$port" '
	    /^[ \t]*\[/ {
		in_listen = ($0 ~ /^[ \t]*\[listen\]/)
		print
		if (in_listen) { print listen; done = 1 }
		next
	    }
	    in_listen { next }
	    { print }
	    END { if (!done) { print "[listen]"; print listen } }
	' "$conf" > "$conf.new" && mv "$conf.new" "$conf"

	# Extra settings for the run, appended as INI text (e.g. a [dns]
	# section); empty by default.
	if [ -n "${POSTINO_EXTRA_CONF:-}" ]; then
		printf '%s\n' "$POSTINO_EXTRA_CONF" >> "$conf"
	fi

	echo "bench-password-not-secret" |
	    "$POSTINO" user add -c "$conf" "$BENCH_RCPT" \
	    > "$dir/useradd.log" 2>&1 || {
		cat "$dir/useradd.log" >&2
		return 1
	}
}

postino_start()
{
	local dir=$1 cg=$2
	(
		if [ -n "$cg" ]; then
			echo "$BASHPID" > "$cg/cgroup.procs" || exit 1
		fi
		exec "$POSTINO" serve -c "$dir/postino.conf"
	) > "$dir/serve.log" 2>&1 &
	POSTINO_PID=$!
	sleep 0.2
	kill -0 "$POSTINO_PID" 2>/dev/null || {
		note "postino serve exited at once:"
		tail -20 "$dir/serve.log" >&2
		POSTINO_PID=
		return 1
	}
}

# postino_mailboxes DIR: "NAME COUNT" lines for $BENCH_RCPT.
postino_mailboxes()
{
	"$POSTINO" mailbox list -c "$1/postino.conf" "$BENCH_RCPT" 2>/dev/null
}

postino_count()
{
	postino_mailboxes "$1" | awk '$2 ~ /^[0-9]+$/ { n += $2 } END { print n + 0 }'
}

postino_stop()
{
	local i=0
	[ -n "$POSTINO_PID" ] || return 0
	kill -TERM "$POSTINO_PID" 2>/dev/null
	while kill -0 "$POSTINO_PID" 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$POSTINO_PID" 2>/dev/null; then
		note "postino did not stop on TERM within 20 s; killing it"
		kill -KILL "$POSTINO_PID" 2>/dev/null
	fi
	wait "$POSTINO_PID" 2>/dev/null
	POSTINO_PID=
}

postino_check()
{
	local dir=$1 q len
	len=$("$POSTINO" mailbox cat -c "$dir/postino.conf" "$BENCH_RCPT" \
	    INBOX 1 2>/dev/null | wc -c)
	[ "$len" -ge "$SIZE" ] ||
		echo "postino: message 1 of INBOX has $len bytes, less than the body"
	q=$("$POSTINO" queue list -c "$dir/postino.conf" 2>&1 |
	    grep -v '^queue is empty$' | grep -c .)
	[ "${q:-0}" -eq 0 ] ||
		echo "postino: queue list shows $q line(s) after the run"
	postino_mailboxes "$dir" | awk '$1 != "INBOX" && $2 ~ /^[1-9]/ {
		print "postino: " $2 " message(s) filed in " $1 }'
	if [ -f "$dir/serve.log" ]; then
		# Lines are "TIME LEVEL text"; summarise the bad levels.
		awk '$2 ~ /^(warn|warning|error|fatal|panic)$/ {
			$1 = ""; print }' "$dir/serve.log" |
		    sed -E 's/[0-9a-f]{8,}/ID/g; s/[0-9]+/N/g' | sort |
		    uniq -c | sort -rn | head -5 |
		    sed -E 's/^ +/postino log: /'
	fi
}
