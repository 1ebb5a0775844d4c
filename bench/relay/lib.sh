# lib.sh - helpers of the relay benchmark: ports, CPU accounting (cgroup
# v2 or /proc/stat), RSS sampling, waiting, medians. Adapted from
# bench/smtp-accept/lib.sh. Sourced by bench/relay/run; not run on its own.
# Everything here reads only what the benchmark itself started.

# die MESSAGE: print to stderr and exit (the EXIT trap cleans up).
die()
{
	echo "relay: $*" >&2
	exit 1
}

# note MESSAGE: progress line on stderr (stdout is kept for the tables).
note()
{
	echo "relay: $*" >&2
}

# now_ns: monotonic-enough wall clock in nanoseconds.
now_ns()
{
	date +%s%N
}

# port_in_use PORT: true if something listens on 127.0.0.1:PORT or *:PORT.
port_in_use()
{
	ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# free_port START: print the first port >= START nobody listens on.
free_port()
{
	local p=$1
	while port_in_use "$p"; do
		p=$((p + 1))
		[ "$p" -lt 65000 ] || die "no free port found from $1"
	done
	echo "$p"
}

# wait_port PORT SECONDS [PID]: wait until 127.0.0.1:PORT accepts
# connections; fail early if PID (when given) has died.
wait_port()
{
	local port=$1 limit=$(( $2 * 10 )) pid=${3:-} i=0
	while [ $i -lt $limit ]; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# --- CPU accounting --------------------------------------------------------
#
# Preferred: a cgroup v2 directory of our own. The server is started from
# a subshell that first moves itself into the group, so the server and
# every process it forks are counted; cpu.stat usage_usec is their CPU.
# Fallback (no writable cgroup v2): busy time of the whole machine from
# /proc/stat, from which the caller subtracts smtp-source's own CPU.

CG_ROOT=
CPU_METHOD=

# cpu_method_init: choose the method, set CG_ROOT and CPU_METHOD.
cpu_method_init()
{
	local mnt probe
	# RELAY_CPU=procstat forces the fallback (to test it).
	if [ "${RELAY_CPU:-}" = procstat ]; then
		CPU_METHOD=procstat
		return
	fi
	mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	if [ -n "$mnt" ] && [ -w "$mnt" ]; then
		probe="$mnt/postino-relay-probe-$$"
		if mkdir "$probe" 2>/dev/null; then
			if [ -r "$probe/cpu.stat" ]; then
				CG_ROOT=$mnt
			fi
			rmdir "$probe" 2>/dev/null
		fi
	fi
	if [ -n "$CG_ROOT" ]; then
		CPU_METHOD=cgroup2
	else
		CPU_METHOD=procstat
	fi
}

# cg_create NAME: make our cgroup, print its path.
cg_create()
{
	local dir="$CG_ROOT/postino-relay-$$-$1"
	mkdir "$dir" || die "cannot create cgroup $dir"
	echo "$dir"
}

# cg_usage_us DIR: microseconds of CPU used by the group so far.
cg_usage_us()
{
	awk '$1 == "usage_usec" { print $2 }' "$1/cpu.stat"
}

# cg_remove DIR: wait (up to 10 s) for the group to empty, then remove it.
cg_remove()
{
	local dir=$1 i=0
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	while [ -s "$dir/cgroup.procs" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	rmdir "$dir" 2>/dev/null ||
		note "warning: cgroup $dir not removed (still has processes)"
}

# sys_busy_us: microseconds of non-idle CPU time of the whole machine
# (user+nice+system+irq+softirq+steal from /proc/stat, in USER_HZ).
sys_busy_us()
{
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {
		printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1000000 / hz
		exit }' /proc/stat
}

# proc_cpu_us PID: utime+stime of one process (all its threads), in us.
proc_cpu_us()
{
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# Skip "pid (comm) " — comm may hold spaces — then fields from 3 on.
	stat=${stat##*) }
	echo "$stat" | awk -v hz="$(getconf CLK_TCK)" \
	    '{ printf "%.0f\n", ($12 + $13) * 1000000 / hz }'
}

# wait_quiet MAX_S PCT: wait up to MAX_S seconds, sampling 2 s at a time,
# until the machine is less than PCT % busy (all CPUs together); print the
# last busy percentage seen.
wait_quiet()
{
	local max=$1 pct=$2 waited=0 a b busy ncpu
	ncpu=$(nproc)
	while :; do
		a=$(sys_busy_us)
		sleep 2
		b=$(sys_busy_us)
		busy=$(( (b - a) / (20000 * ncpu) ))
		waited=$((waited + 2))
		if [ "$busy" -lt "$pct" ] || [ "$waited" -ge "$max" ]; then
			echo "$busy"
			return
		fi
	done
}

# --- memory ----------------------------------------------------------------

# rss_sampler PID OUTFILE: every 100 ms read VmRSS of PID; when PID ends or
# the sampler is killed (TERM), OUTFILE holds "MAX_RSS_KB VMHWM_KB SAMPLES".
# Run it in the background; stop it with kill.
rss_sampler()
{
	local pid=$1 out=$2 max=0 hwm=0 n=0 key val unit
	trap 'echo "$max $hwm $n" > "$out"; exit 0' TERM
	while [ -r "/proc/$pid/status" ]; do
		while read -r key val unit; do
			case $key in
			VmRSS:)	[ "$val" -gt "$max" ] && max=$val ;;
			VmHWM:)	hwm=$val ;;
			esac
		done < "/proc/$pid/status" 2>/dev/null
		n=$((n + 1))
		echo "$max $hwm $n" > "$out"
		sleep 0.1 &
		wait $!
	done
	echo "$max $hwm $n" > "$out"
}

# --- waiting for delivery ----------------------------------------------------

# wait_delivered WANT OUTVAR_NS COMMAND...: poll COMMAND (which prints the
# number of delivered messages) every 0.25 s until it reaches
# WANT, or until nothing has changed for $STALL_S seconds. Sets the named
# variable to the time (now_ns) the last count was first seen; returns 0
# if WANT was reached.
wait_delivered()
{
	local want=$1 var=$2 last=-1 n t_change stall_ns
	shift 2
	stall_ns=$(( ${STALL_S:-60} * 1000000000 ))
	t_change=$(now_ns)
	while :; do
		n=$("$@")
		n=${n:-0}
		if [ "$n" != "$last" ]; then
			last=$n
			t_change=$(now_ns)
		fi
		if [ "$n" -ge "$want" ]; then
			printf -v "$var" '%s' "$t_change"
			return 0
		fi
		if [ $(( $(now_ns) - t_change )) -gt "$stall_ns" ]; then
			printf -v "$var" '%s' "$t_change"
			return 1
		fi
		sleep 0.25
	done
}

# --- statistics ----------------------------------------------------------------

# median: read numbers (one a line) on stdin, print their median.
median()
{
	sort -g | awk '{ v[NR] = $1 }
	    END {
		if (NR == 0) { print "n/a"; exit }
		if (NR % 2) print v[(NR + 1) / 2]
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2
	    }'
}
