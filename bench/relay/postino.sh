# postino.sh - a throw-away postino that relays for the relay benchmark.
# Sourced by bench/relay/run. Same interface as postfix.sh:
#   postino_setup DIR PORT SINK_PORT  init DIR; only the smtp listener on
#                                     127.0.0.1:PORT; [dns] servers = the
#                                     benchmark's dnsmasq; [delivery]
#                                     smtp_port = SINK_PORT; alias
#                                     $BENCH_RCPT -> $RELAY_RCPT
#   postino_start DIR CGROUP          start `postino serve` in the background
#                                     (inside CGROUP when not empty); sets
#                                     POSTINO_PID
#   postino_stop DIR                  stop it (TERM, then KILL after 20 s)
#   postino_check DIR                 print problems: queue not empty, log
#                                     warnings and errors
#   postino_notes DIR                 print remarks (none so far)
# $POSTINO is the binary (build/postino by default).
#
# postino's smtp listener takes mail for local domains only (no relay
# without AUTH), so the load is addressed to a local alias of the remote
# address, and Postfix gets the same virtual alias (see postfix.sh).

POSTINO_PID=

# ini_set FILE SECTION KEY VALUE: set KEY in [SECTION], replacing the line
# (commented out or not) that holds it, adding section and key if missing.
ini_set()
{
	local file=$1
	awk -v sec="$2" -v key="$3" -v val="$4" '
	    function put() { print key " = " val; done = 1 }
	    /^[ \t]*\[/ {
		if (cur == sec && !done) put()
		cur = $0
		sub(/^[ \t]*\[/, "", cur); sub(/\].*$/, "", cur)
		print
		next
	    }
	    cur == sec && $0 ~ "^[ \t;#]*" key "[ \t]*=" {
		if (!done) put()
		next
	    }
	    { print }
	    END {
		if (!done) {
			if (cur != sec) print "[" sec "]"
			put()
		}
	    }
	' "$file" > "$file.new" && mv "$file.new" "$file"
}

postino_setup()
{
	local dir=$1 port=$2 sink_port=$3 conf
	conf="$dir/postino.conf"
	"$POSTINO" init --dir "$dir" --hostname mx.postino-relay.test \
	    --domain "${BENCH_RCPT#*@}" > "$dir/init.log" 2>&1 || {
		cat "$dir/init.log" >&2
		return 1
	}
	[ -f "$conf" ] || { note "postino init wrote no $conf"; return 1; }

	# Only the one SMTP listener we measure.
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
	ini_set "$conf" dns servers "127.0.0.1:$DNS_PORT"
	ini_set "$conf" delivery smtp_port "$sink_port"

	"$POSTINO" alias add -c "$conf" "$BENCH_RCPT" "$RELAY_RCPT" \
	    > "$dir/alias.log" 2>&1 || {
		cat "$dir/alias.log" >&2
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

# postino_queued DIR: messages still in the queue.
postino_queued()
{
	"$POSTINO" queue list -c "$1/postino.conf" 2>/dev/null |
	    grep -c '^[0-9a-f]\{16\} '
}

postino_check()
{
	local dir=$1 q
	q=$(postino_queued "$dir")
	[ "${q:-0}" -eq 0 ] || {
		echo "postino: $q message(s) still queued"
		"$POSTINO" queue list -c "$dir/postino.conf" 2>/dev/null |
		    grep -o 'error="[^"]*"' | sort | uniq -c | sort -rn |
		    head -3 | sed -E 's/^ +/postino queue: /'
	}
	if [ -f "$dir/serve.log" ]; then
		# Lines are "TIME LEVEL text"; summarise the bad levels.
		awk '$2 ~ /^(warn|warning|error|fatal|panic)$/ {
			$1 = ""; print }' "$dir/serve.log" |
		    sed -E 's/[0-9a-f]{8,}/ID/g; s/[0-9]+/N/g' | sort |
		    uniq -c | sort -rn | head -5 |
		    sed -E 's/^ +/postino log: /'
	fi
}

postino_notes()
{
	:
}
