# sink.sh - the far end of the relay benchmark: Postfix's smtp-sink, which
# accepts every message and counts it, and a private dnsmasq that gives
# postino the MX record pointing at it. Sourced by bench/relay/run.
#
#   sink_start DIR PORT   smtp-sink on 127.0.0.1:PORT, counting to DIR/sink.out
#   sink_count DIR        print how many messages it has received so far
#   sink_stop             stop it (by its PID; safe to call twice)
#   dns_start DIR         dnsmasq on 127.0.0.1 and a free port serving
#                         $SINK_DOMAIN MX 10 mx.$SINK_DOMAIN, A 127.0.0.1;
#                         sets DNS_PORT and DNS_PID
#   dns_stop              stop it (by its PID)

SINK_PID=
DNS_PID=
DNS_PORT=
SINK_DOMAIN=sink.test
DNSMASQ=${DNSMASQ:-/usr/sbin/dnsmasq}

sink_start()
{
	local dir=$1 port=$2
	# -c: a counter line "sess=N quit=N mesg=N" ending in CR after every
	# session, QUIT and message; -u: required when started as root.
	smtp-sink -c -u nobody -h "mx.$SINK_DOMAIN" -m 1000 \
	    "127.0.0.1:$port" 1024 > "$dir/sink.out" 2> "$dir/sink.err" &
	SINK_PID=$!
	sleep 0.2
	kill -0 "$SINK_PID" 2>/dev/null || {
		note "smtp-sink exited at once:"
		cat "$dir/sink.err" >&2
		SINK_PID=
		return 1
	}
}

sink_count()
{
	local n
	n=$(tail -c 200 "$1/sink.out" 2>/dev/null | tr '\r' '\n' |
	    sed -n 's/.* mesg=\([0-9][0-9]*\).*/\1/p' | tail -1)
	echo "${n:-0}"
}

sink_stop()
{
	[ -n "$SINK_PID" ] || return 0
	kill "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null
	SINK_PID=
}

# dns_query_ok PORT: one MX query over UDP (bash has no UDP client that
# reads answers, so python3's socket is used): true if dnsmasq answers.
dns_query_ok()
{
	python3 - "$1" "$SINK_DOMAIN" <<'EOF' 2>/dev/null
import socket, struct, sys
port, name = int(sys.argv[1]), sys.argv[2]
q = struct.pack("!HHHHHH", 4242, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
q += struct.pack("!HH", 15, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.3)
s.sendto(q, ("127.0.0.1", port))
r = s.recv(512)
_, flags, _, an = struct.unpack("!HHHH", r[:8])
sys.exit(0 if (flags & 15) == 0 and an >= 1 else 1)
EOF
}

dns_start()
{
	local dir=$1 i
	[ -x "$DNSMASQ" ] || die "$DNSMASQ is missing: scripts/deps.sh test"
	mkdir -p "$dir"
	DNS_PORT=$(free_port $((30053 + RANDOM % 2000)))
	cat > "$dir/dnsmasq.conf" <<EOF
listen-address=127.0.0.1
bind-interfaces
port=$DNS_PORT
no-resolv
no-hosts
local=/test/
local-ttl=3600
mx-host=$SINK_DOMAIN,mx.$SINK_DOMAIN,10
host-record=mx.$SINK_DOMAIN,127.0.0.1
EOF
	"$DNSMASQ" --keep-in-foreground --conf-file="$dir/dnsmasq.conf" \
	    --pid-file= > "$dir/dnsmasq.log" 2>&1 &
	DNS_PID=$!
	for ((i = 0; i < 50; i++)); do
		dns_query_ok "$DNS_PORT" && return 0
		kill -0 "$DNS_PID" 2>/dev/null || break
		sleep 0.1
	done
	note "dnsmasq did not answer:"
	cat "$dir/dnsmasq.log" >&2
	return 1
}

dns_stop()
{
	[ -n "$DNS_PID" ] || return 0
	kill "$DNS_PID" 2>/dev/null
	wait "$DNS_PID" 2>/dev/null
	DNS_PID=
}
