#!/usr/bin/env bash
# bench/run.sh: bluegreen's router against a direct backend and nginx, in the
# same run (throughput at saturation and latency at a fixed rate), plus
# switches under load and the memory of idle connections.
# See bench/README.md for what each part measures. Usage: bash bench/run.sh -h
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}          # wrk -d, per run
CONNS=${BENCH_CONNECTIONS:-64}           # wrk -c and switchbench -c
THREADS=${BENCH_THREADS:-2}              # wrk -t
WARMUP=${BENCH_WARMUP:-2s}               # one wrk run per target before measuring; 0 skips
SWITCHES=${BENCH_SWITCHES:-100}          # switchbench -n
MEM_CONNS=${BENCH_MEMORY_CONNECTIONS:-1000}
RATE=${BENCH_RATE:-5000}                 # bench/latency -rate: req/s offered to every target
LAT_ROUNDS=${BENCH_LATENCY_ROUNDS:-5}    # interleaved latency runs per target
WRK_ROUNDS=${BENCH_THROUGHPUT_ROUNDS:-4} # interleaved wrk runs per target
PARTS=${BENCH_PARTS:-throughput,latency,switch,memory,heads,handover}
BASELINES_ONLY=${BENCH_BASELINES_ONLY:-0}
HOLD=0

usage() {
	cat <<EOF
usage: bash bench/run.sh [options]
  -d DURATION      wrk and latency duration of each run (env BENCH_DURATION, default $DURATION)
  -c CONNECTIONS   wrk, latency and switchbench connections (env BENCH_CONNECTIONS, default $CONNS)
  -t THREADS       wrk threads (env BENCH_THREADS, default $THREADS)
  -w DURATION      warm-up per target (and per latency run), 0 for none (env BENCH_WARMUP, default $WARMUP)
  -r RATE          req/s of the latency part, the same for every target (env BENCH_RATE, default $RATE)
  -l ROUNDS        interleaved latency runs per target, odd (env BENCH_LATENCY_ROUNDS, default $LAT_ROUNDS)
  -T ROUNDS        interleaved wrk runs per target (env BENCH_THROUGHPUT_ROUNDS, default $WRK_ROUNDS)
  -n SWITCHES      switches under load (env BENCH_SWITCHES, default $SWITCHES)
  -m CONNECTIONS   idle connections for the memory figure (env BENCH_MEMORY_CONNECTIONS, default $MEM_CONNS)
  -p PARTS         comma list of throughput, latency, switch, memory, heads, handover (env BENCH_PARTS, default $PARTS)
  --baselines-only direct and nginx only, without building bluegreen (env BENCH_BASELINES_ONLY=1)
  --hold           start everything, print the addresses and PIDs, and wait for Ctrl-C (for profiling)
EOF
}

while (($#)); do
	case $1 in
	-d) DURATION=$2; shift 2 ;;
	-c) CONNS=$2; shift 2 ;;
	-t) THREADS=$2; shift 2 ;;
	-w) WARMUP=$2; shift 2 ;;
	-r) RATE=$2; shift 2 ;;
	-l) LAT_ROUNDS=$2; shift 2 ;;
	-T) WRK_ROUNDS=$2; shift 2 ;;
	-n) SWITCHES=$2; shift 2 ;;
	-m) MEM_CONNS=$2; shift 2 ;;
	-p) PARTS=$2; shift 2 ;;
	--baselines-only) BASELINES_ONLY=1; shift ;;
	--hold) HOLD=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
has_part() { [[ ",$PARTS," == *",$1,"* ]]; }

for tool in wrk nginx curl; do
	command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || die "$tool is not installed"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bluegreen-bench.XXXXXX")
chmod 755 "$WORK" # nginx workers run as another user
PIDS=()

cleanup() {
	local status=$? i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[i]}" 2>/dev/null || true
	done
	for i in "${PIDS[@]}"; do
		wait "$i" 2>/dev/null || true
	done
	if ((status != 0)); then
		echo "bench: failed (status $status); logs kept in $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for DESC PID CMD...: run CMD until it succeeds, for at most 20 s, while
# process PID is alive.
wait_for() {
	local desc=$1 pid=$2 deadline=$((SECONDS + 20))
	shift 2
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || die "$desc exited early; see $WORK"
		((SECONDS < deadline)) || die "timed out waiting for $desc; see $WORK"
		sleep 0.05
	done
}

# freeport prints a port nothing listens on, below the ephemeral range and
# not handed out before in this run.
USED_PORTS=" "
freeport() {
	local p i
	for i in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# ---- build ----
log "building into $WORK/bin"
mkdir -p "$WORK/bin"
BIN=
if [[ $BASELINES_ONLY != 1 ]]; then
	go build -o bin/bluegreen ./cmd/bluegreen
	BIN=$ROOT/bin/bluegreen
fi
go build -o "$WORK/bin/" ./bench/backend ./bench/switchbench ./bench/memory ./bench/latency

# ---- backends ----
# bench/backend rather than `bluegreen sample-app`: the smallest app makes the
# proxy's cost visible, and its /slow sends headers at once (switchbench
# relies on that to know a slow request is in flight).
# start_backend COLOR: sets BACKEND_ADDR and BACKEND_PID.
start_backend() {
	local color=$1 out=$WORK/backend-$1.out
	"$WORK/bin/backend" -color "$color" -listen 127.0.0.1:0 >"$out" 2>&1 &
	BACKEND_PID=$!
	PIDS+=("$BACKEND_PID")
	wait_for "the $color backend" "$BACKEND_PID" grep -q 'listening on http://' "$out"
	BACKEND_ADDR=$(sed -n 's#.*listening on http://\([^ ]*\).*#\1#p' "$out" | head -n1)
}
start_backend blue
BLUE=$BACKEND_ADDR BLUE_PID=$BACKEND_PID
start_backend green
GREEN=$BACKEND_ADDR

# ---- nginx: keep-alive reverse proxy to the blue backend ----
NGINX_PORT=$(freeport)
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    upstream backend {
        server $BLUE;
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_for nginx "$NGINX_PID" curl -fsS "http://127.0.0.1:$NGINX_PORT/"

# ---- bluegreen serve: blue and green backends ----
if [[ -n $BIN ]]; then
	PUB_PORT=$(freeport) PRE_PORT=$(freeport) API_PORT=$(freeport)
	STATE=$WORK/state
	cat >"$WORK/bluegreen.yaml" <<EOF
listen: 127.0.0.1:$PUB_PORT
preview: 127.0.0.1:$PRE_PORT
api: 127.0.0.1:$API_PORT
state: $STATE
initial_live: blue
router:
  drain_timeout: 10s
  # Longer than the memory measurement, which keeps connections idle.
  idle_timeout: 10m
# Short: serve refuses a hand-over while a post-switch watch runs, and the
# hand-over part comes after the switch part's last switch.
watch: {window: 10s, interval: 1s}
blue:
  branch: blue
  upstreams: [$BLUE]
  health: {path: /healthz, interval: 1s}
green:
  branch: green
  upstreams: [$GREEN]
  health: {path: /healthz, interval: 1s}
EOF
	"$BIN" serve --config "$WORK/bluegreen.yaml" >"$WORK/serve.out" 2>"$WORK/serve.log" &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	wait_for "bluegreen serve" "$SERVE_PID" curl -fsS "http://127.0.0.1:$PUB_PORT/"
	wait_for "the API token" "$SERVE_PID" test -s "$STATE/api-token"

	# A second serve on the goroutine-per-connection data path (data_path:
	# fast, the default before the event loop), for the throughput and
	# latency parts only: the two data paths side by side in one run.
	FAST_PORT=$(freeport) FAST_PRE_PORT=$(freeport) FAST_API_PORT=$(freeport)
	sed -e "s/^listen: .*/listen: 127.0.0.1:$FAST_PORT/" -e "s/^preview: .*/preview: 127.0.0.1:$FAST_PRE_PORT/" \
		-e "s/^api: .*/api: 127.0.0.1:$FAST_API_PORT/" -e "s|^state: .*|state: $WORK/state-fast|" \
		-e "s/^router:/router:\n  data_path: fast/" "$WORK/bluegreen.yaml" >"$WORK/bluegreen-fast.yaml"
	"$BIN" serve --config "$WORK/bluegreen-fast.yaml" >"$WORK/serve-fast.out" 2>"$WORK/serve-fast.log" &
	FAST_PID=$!
	PIDS+=("$FAST_PID")
	wait_for "bluegreen serve (data_path: fast)" "$FAST_PID" curl -fsS "http://127.0.0.1:$FAST_PORT/"
fi

TARGETS=(direct nginx)
declare -A URL=([direct]="http://$BLUE/" [nginx]="http://127.0.0.1:$NGINX_PORT/")
if [[ -n $BIN ]]; then
	TARGETS+=(bluegreen bluegreen-fast)
	URL[bluegreen]="http://127.0.0.1:$PUB_PORT/"
	URL[bluegreen-fast]="http://127.0.0.1:$FAST_PORT/"
fi

if [[ $HOLD == 1 ]]; then
	echo "direct    ${URL[direct]}  (backend pid $BLUE_PID)"
	echo "nginx     ${URL[nginx]}  (master pid $NGINX_PID)"
	if [[ -n $BIN ]]; then
		echo "bluegreen ${URL[bluegreen]}  (serve pid $SERVE_PID; api http://127.0.0.1:$API_PORT, token $STATE/api-token)"
		echo "bluegreen-fast ${URL[bluegreen-fast]}  (serve pid $FAST_PID, data_path: fast)"
	fi
	echo "holding; Ctrl-C stops everything"
	trap 'exit 0' INT TERM
	wait "${PIDS[0]}" || true
	exit 0
fi

# ---- header ----
echo "# bluegreen benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(uname -sr);" \
	"$(go version | cut -d' ' -f3); $("$NGINX" -v 2>&1 | sed 's#.*/##' | sed 's/^/nginx /'); wrk $(wrk -v 2>&1 | head -n1 | cut -d' ' -f2);" \
	"backend: bench/backend"
echo
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
echo

STATUS=0

# to_ms VALUE: converts wrk's 1.23us / 4.56ms / 7.89s to milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f", n }'
}

# met CONDITION: "met" when the awk condition holds, else "NOT met".
met() { if awk "BEGIN {exit !($1)}"; then echo met; else echo "NOT met"; fi; }

# round_ratios ARRAY ROUNDS: bluegreen's p99 over nginx's in each round, from
# ARRAY[bluegreen.R] and ARRAY[nginx.R] (ms), into RATIOS; WINS counts the
# rounds where bluegreen's was lower or equal.
round_ratios() {
	local -n p99s=$1
	local r
	RATIOS=() WINS=0
	for r in $(seq 1 "$2"); do
		RATIOS+=("$(awk -v a="${p99s[bluegreen.$r]}" -v b="${p99s[nginx.$r]}" 'BEGIN {printf "%.2f", a / b}')")
		if awk -v a="${p99s[bluegreen.$r]}" -v b="${p99s[nginx.$r]}" 'BEGIN {exit !(a <= b)}'; then
			WINS=$((WINS + 1))
		fi
	done
}

# wrk_pool FILE...: pools wrk latency histograms (lines "MICROSECONDS COUNT",
# as wrk-hist.lua writes them) and prints "requests p50 p90 p99 p99.9" in ms.
# wrk keeps latencies to the microsecond, so the pooled figures are exact.
wrk_pool() {
	cat "$@" | awk '{c[$1] += $2} END {for (v in c) print v, c[v]}' | sort -n | awk '
		{v[NR] = $1; c[NR] = $2; n += $2}
		END {
			split("0.5 0.9 0.99 0.999", q, " "); k = 1; t = 0
			for (i = 1; i <= NR && k <= 4; i++) {
				t += c[i]
				while (k <= 4 && t >= q[k] * n) { out[k] = v[i]; k++ }
			}
			if (n == 0) exit 1
			printf "%d %.3f %.3f %.3f %.3f\n", n, out[1] / 1000, out[2] / 1000, out[3] / 1000, out[4] / 1000
		}'
}

# ---- throughput ----
if has_part throughput; then
	((WRK_ROUNDS >= 1)) || die "the throughput rounds must be at least 1, not $WRK_ROUNDS"
	declare -A BEST_RPS BEST_ERR RUNS WRK_P99S WRK_ROUND_P99 WRK_POOL
	# wrk's done() hook writes the run's whole latency histogram, so that a
	# target's runs can be pooled like the fixed-rate ones.
	cat >"$WORK/wrk-hist.lua" <<'LUA'
done = function(summary, latency, requests)
  local f = assert(io.open(os.getenv("WRK_HIST"), "w"))
  for i = 1, #latency do
    local us, n = latency(i)
    f:write(string.format("%d %d\n", us, n))
  end
  f:close()
end
LUA
	# run_wrk NAME ROUND: one measured run, keeping the best req/s per target
	# and the run's latency histogram.
	run_wrk() {
		local name=$1 out=$WORK/wrk-$1-$2.txt hist=$WORK/wrk-$1-$2.hist rps p50 p99 errs
		WRK_HIST=$hist wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$WORK/wrk-hist.lua" "${URL[$name]}" >"$out"
		rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
		p50=$(awk '$1 == "50%" {print $2}' "$out")
		p99=$(awk '$1 == "99%" {print $2}' "$out")
		errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
			/Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
			END {print n + 0}' "$out")
		[[ -n $rps && -n $p50 && -n $p99 ]] || die "cannot parse wrk output $out"
		[[ -s $hist ]] || die "wrk wrote no latency histogram for $name (needs wrk 4.1's Lua done() hook); see $out"
		log "$name round $2: $rps req/s, p50 $p50, p99 $p99, $errs errors"
		RUNS[$name]+="${RUNS[$name]:+, }$(printf '%.0f' "$rps")"
		WRK_P99S[$name]+="${WRK_P99S[$name]:+, }$(to_ms "$p99")"
		WRK_ROUND_P99[$name.$2]=$(to_ms "$p99")
		if [[ -z ${BEST_RPS[$name]:-} ]] || awk -v a="$rps" -v b="${BEST_RPS[$name]}" 'BEGIN {exit !(a > b)}'; then
			BEST_RPS[$name]=$rps
		fi
		BEST_ERR[$name]=$((${BEST_ERR[$name]:-0} + errs))
	}
	for t in "${TARGETS[@]}"; do
		curl -fsS -o /dev/null "${URL[$t]}" || die "$t (${URL[$t]}) does not answer 200"
		if [[ $WARMUP != 0 ]]; then
			wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "${URL[$t]}" >/dev/null
		fi
	done
	# Each round starts with the next target, so that no target always
	# runs right after the same other one.
	for round in $(seq 1 "$WRK_ROUNDS"); do
		for i in "${!TARGETS[@]}"; do
			run_wrk "${TARGETS[$(((i + round - 1) % ${#TARGETS[@]}))]}" "$round"
		done
	done
	for t in "${TARGETS[@]}"; do
		files=()
		for r in $(seq 1 "$WRK_ROUNDS"); do files+=("$WORK/wrk-$t-$r.hist"); done
		WRK_POOL[$t]=$(wrk_pool "${files[@]}") || die "cannot pool the wrk runs of $t"
	done
	echo "## Throughput: wrk -t$THREADS -c$CONNS -d$DURATION --latency, GET / ($WRK_ROUNDS interleaved runs)"
	echo
	echo "req/s is each target's best run; the latencies pool all of a target's runs (wrk's own histograms, to the"
	echo "microsecond, written by a Lua done() hook), and the p99 target is judged on them. Each round starts with the"
	echo "next target in turn."
	echo
	echo "| target | req/s (best) | ratio to direct | p50 | p90 | p99 | p99.9 | errors (all runs) | req/s of each run | p99 of each run (ms) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
	for t in "${TARGETS[@]}"; do
		ratio=$(awk -v a="${BEST_RPS[$t]}" -v b="${BEST_RPS[direct]}" 'BEGIN {printf "%.2fx", a / b}')
		read -r _ q50 q90 q99 q999 <<<"${WRK_POOL[$t]}"
		printf '| %s | %.0f | %s | %s ms | %s ms | %s ms | %s ms | %s | %s | %s |\n' "$t" "${BEST_RPS[$t]}" "$ratio" \
			"$q50" "$q90" "$q99" "$q999" "${BEST_ERR[$t]}" "${RUNS[$t]}" "${WRK_P99S[$t]}"
		((BEST_ERR[$t] == 0)) || STATUS=1
	done
	echo
	if [[ -n $BIN ]]; then
		ratio=$(awk -v a="${BEST_RPS[bluegreen]}" -v b="${BEST_RPS[direct]}" 'BEGIN {printf "%.2f", a / b}')
		read -r _ _ _ p99bg _ <<<"${WRK_POOL[bluegreen]}"
		read -r _ _ _ p99ng _ <<<"${WRK_POOL[nginx]}"
		round_ratios WRK_ROUND_P99 "$WRK_ROUNDS"
		echo "- target bluegreen >= 0.35x direct: ${ratio}x, $(met "$ratio >= 0.35")"
		echo "- target bluegreen p99 <= nginx p99, all runs pooled: $p99bg ms vs $p99ng ms" \
			"($(awk -v a="$p99bg" -v b="$p99ng" 'BEGIN {printf "%.3f", a / b}')x), $(met "$p99bg <= $p99ng")"
		echo "- per round, bluegreen's p99 over nginx's: $(
			IFS=,
			echo "${RATIOS[*]}" | sed 's/,/, /g'
		) (bluegreen lower or equal in $WINS of $WRK_ROUNDS)"
		echo
	fi
fi

# ---- latency at a fixed rate (open loop) ----
if has_part latency; then
	declare -A LAT LAT_P99S ROUND_P99
	((LAT_ROUNDS >= 1 && LAT_ROUNDS % 2 == 1)) || die "the latency rounds must be an odd number, not $LAT_ROUNDS"
	# fmt_ms MS: 3 significant digits or so, e.g. 0.254, 2.03, 14.7, 1203.
	fmt_ms() {
		awk -v v="$1" 'BEGIN { if (v < 1) f = "%.3f"; else if (v < 10) f = "%.2f"; else if (v < 100) f = "%.1f"; else f = "%.0f"; printf f, v }'
	}
	# run_latency NAME ROUND: one measured run at RATE. Keeps its p99 in
	# ROUND_P99[NAME.ROUND] and all of bench/latency's key=value line in
	# LAT[NAME.ROUND.key].
	run_latency() {
		local name=$1 out=$WORK/latency-$1-$2.txt rc=0 f p99 keys=(rate achieved kept_up requests failed p50_ms p90_ms p99_ms p999_ms max_ms sent_p99_ms)
		"$WORK/bin/latency" -url "${URL[$name]}" -rate "$RATE" -c "$CONNS" -d "$DURATION" -warmup "$WARMUP" \
			-label "$name" -format kv -hist "$WORK/latency-$1-$2.hist" >"$out" 2>"$out.err" || rc=$?
		((rc <= 1)) || die "bench/latency failed on $name; see $out.err"
		((rc == 0)) || { STATUS=1; cat "$out.err" >&2; }
		declare -A kv=()
		for f in $(cat "$out"); do kv[${f%%=*}]=${f#*=}; done
		[[ -n ${kv[p99_ms]:-} && -n ${kv[achieved]:-} ]] || die "cannot parse bench/latency output $out"
		p99=${kv[p99_ms]}
		log "latency $name round $2: ${kv[achieved]} of $RATE req/s, p50 ${kv[p50_ms]} ms, p99 $p99 ms," \
			"p99.9 ${kv[p999_ms]} ms, max ${kv[max_ms]} ms, ${kv[failed]} failed (load average now $(cut -d' ' -f1 /proc/loadavg))"
		LAT_P99S[$name]+="${LAT_P99S[$name]:+, }$(fmt_ms "$p99")"
		ROUND_P99[$name.$2]=$p99
		for f in "${keys[@]}"; do LAT[$name.$2.$f]=${kv[$f]}; done
	}
	# median_round NAME: the round whose p99 is NAME's median.
	median_round() {
		local r
		for r in $(seq 1 "$LAT_ROUNDS"); do echo "${ROUND_P99[$1.$r]} $r"; done |
			sort -g | awk -v n="$LAT_ROUNDS" 'NR == (n + 1) / 2 {print $2}'
	}
	for t in "${TARGETS[@]}"; do
		curl -fsS -o /dev/null "${URL[$t]}" || die "$t (${URL[$t]}) does not answer 200"
	done
	for round in $(seq 1 "$LAT_ROUNDS"); do
		for t in "${TARGETS[@]}"; do
			run_latency "$t" "$round"
		done
	done
	# pool NAME: the percentiles of all NAME's runs together, in POOL[NAME.key].
	declare -A POOL
	pool() {
		local f files=()
		for f in $(seq 1 "$LAT_ROUNDS"); do files+=("$WORK/latency-$1-$f.hist"); done
		for f in $("$WORK/bin/latency" -pool -format kv "${files[@]}"); do POOL[$1.${f%%=*}]=${f#*=}; done
		[[ -n ${POOL[$1.p99_ms]:-} ]] || die "cannot pool the latency runs of $1"
	}
	for t in "${TARGETS[@]}"; do pool "$t"; done
	echo "## Latency at a fixed rate: bench/latency -rate $RATE -c $CONNS -d $DURATION, GET / (open loop; $LAT_ROUNDS interleaved runs, pooled)"
	echo
	echo "Measured from each request's scheduled send time to the end of its body (no coordinated omission);"
	echo "percentiles over-state by at most 6.25% (histogram buckets). The runs take turns (direct, nginx, bluegreen,"
	echo "... then again), so each round's targets share the machine's weather. \"achieved\" below 95% of the offered"
	echo "rate means the run could not keep up and its figures do not describe that rate."
	echo
	echo "The first table pools each target's $LAT_ROUNDS runs (\`bench/latency -pool\`: the percentiles of all their"
	echo "requests together); the target is judged on it. The second shows each target's run with the median p99."
	echo
	echo "| target (all $LAT_ROUNDS runs pooled) | requests | p50 | p90 | p99 | p99.9 | max |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for t in "${TARGETS[@]}"; do
		printf '| %s | %s | %s ms | %s ms | %s ms | %s ms | %s ms |\n' "$t" "${POOL[$t.requests]}" \
			"$(fmt_ms "${POOL[$t.p50_ms]}")" "$(fmt_ms "${POOL[$t.p90_ms]}")" "$(fmt_ms "${POOL[$t.p99_ms]}")" \
			"$(fmt_ms "${POOL[$t.p999_ms]}")" "$(fmt_ms "${POOL[$t.max_ms]}")"
	done
	echo
	echo "| target (run with the median p99) | offered req/s | achieved req/s | p50 | p90 | p99 | p99.9 | max | failed | p99 of each run | p99 from the actual send |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
	declare -A MED
	for t in "${TARGETS[@]}"; do
		m=$(median_round "$t") MED[$t]=$m
		achieved=${LAT[$t.$m.achieved]}
		[[ ${LAT[$t.$m.kept_up]} == true ]] || achieved="$achieved (**did not keep up**)"
		printf '| %s | %s | %s | %s ms | %s ms | %s ms | %s ms | %s ms | %s | %s | %s ms |\n' "$t" "$RATE" "$achieved" \
			"$(fmt_ms "${LAT[$t.$m.p50_ms]}")" "$(fmt_ms "${LAT[$t.$m.p90_ms]}")" "$(fmt_ms "${LAT[$t.$m.p99_ms]}")" \
			"$(fmt_ms "${LAT[$t.$m.p999_ms]}")" "$(fmt_ms "${LAT[$t.$m.max_ms]}")" "${LAT[$t.$m.failed]}" "${LAT_P99S[$t]}" \
			"$(fmt_ms "${LAT[$t.$m.sent_p99_ms]}")"
	done
	echo
	if [[ -n $BIN ]]; then
		# The verdict compares the pooled p99s: one run's p99 is set by the
		# few stalls of the shared machine (40-50 in 10 s, each holding up
		# every request in flight for a few ms, for every target alike) that
		# fell into it. The pairs of one round (run back to back) follow.
		round_ratios ROUND_P99 "$LAT_ROUNDS"
		note=
		for r in $(seq 1 "$LAT_ROUNDS"); do
			if [[ ${LAT[bluegreen.$r.kept_up]} != true || ${LAT[nginx.$r.kept_up]} != true ]]; then
				note=" (a run did not keep up with the rate: not a valid comparison)"
			fi
		done
		mratio=$(printf '%s\n' "${RATIOS[@]}" | sort -g | awk -v n="$LAT_ROUNDS" 'NR == (n + 1) / 2')
		pr=$(awk -v a="${POOL[bluegreen.p99_ms]}" -v b="${POOL[nginx.p99_ms]}" 'BEGIN {printf "%.2f", a / b}')
		echo "- target bluegreen p99 <= nginx p99 at $RATE req/s, all runs pooled: $(fmt_ms "${POOL[bluegreen.p99_ms]}") ms" \
			"vs $(fmt_ms "${POOL[nginx.p99_ms]}") ms (${pr}x), $(
				if awk -v a="${POOL[bluegreen.p99_ms]}" -v b="${POOL[nginx.p99_ms]}" 'BEGIN {exit !(a == b)}'; then
					echo "met: the same histogram bucket (within 6.25%)"
				else
					met "${POOL[bluegreen.p99_ms]} < ${POOL[nginx.p99_ms]}"
				fi
			)$note"
		echo "- per round, bluegreen's p99 over nginx's: $(
			IFS=,
			echo "${RATIOS[*]}" | sed 's/,/, /g'
		) (median ${mratio}x, bluegreen lower or equal in $WINS of $LAT_ROUNDS; median runs $(fmt_ms "${ROUND_P99[bluegreen.${MED[bluegreen]}]}")" \
			"vs $(fmt_ms "${ROUND_P99[nginx.${MED[nginx]}]}") ms)"
	fi
	echo "- load average after this part: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
fi

# ---- switches under load ----
if has_part switch && [[ -n $BIN ]]; then
	# Twice: with the connections as busy as they can be (the zero-downtime
	# test: every request counts), then at the latency part's fixed rate,
	# where switch_ms is the switch's own cost beside live traffic rather than
	# its wait for a core on a saturated machine.
	echo "## Switches under load: switchbench -n $SWITCHES -c $CONNS"
	echo
	"$WORK/bin/switchbench" -public "127.0.0.1:$PUB_PORT" -api "127.0.0.1:$API_PORT" \
		-token-file "$STATE/api-token" -n "$SWITCHES" -c "$CONNS" || STATUS=1
	echo
	echo "## Switches at a fixed load: switchbench -n $SWITCHES -c $CONNS -rate $RATE -idle 0"
	echo
	"$WORK/bin/switchbench" -public "127.0.0.1:$PUB_PORT" -api "127.0.0.1:$API_PORT" \
		-token-file "$STATE/api-token" -n "$SWITCHES" -c "$CONNS" -rate "$RATE" -idle 0 || STATUS=1
	echo
fi

# ---- big request heads: 400 connections, a 1 MiB head each ----
if has_part heads; then
	echo "## Big request heads: 400 connections, each sending a 1 MiB head at once (VmRSS)"
	echo
	echo "| process | connections | refused | accepted | RSS before | RSS peak | RSS right after | RSS 30 s later | run |"
	echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
	if [[ -n $BIN ]]; then
		"$WORK/bin/memory" -addr "127.0.0.1:$PUB_PORT" -pid "$SERVE_PID" -n 400 -head-bytes 1048576 -after 30s -label "bluegreen serve" || STATUS=1
	fi
	NGINX_ALL="$NGINX_PID,$(pgrep -P "$NGINX_PID" | paste -sd, -)"
	"$WORK/bin/memory" -addr "127.0.0.1:$NGINX_PORT" -pid "$NGINX_ALL" -n 400 -head-bytes 1048576 -after 30s -label "nginx (master + workers)" || STATUS=1
	echo
fi

# ---- memory with idle kept-alive connections ----
if has_part memory; then
	echo "## Memory: $MEM_CONNS idle kept-alive client connections (VmRSS)"
	echo
	echo "| process | RSS before | RSS with $MEM_CONNS connections | difference | connections still open after |"
	echo "|---|---:|---:|---:|---:|"
	if [[ -n $BIN ]]; then
		row=$("$WORK/bin/memory" -addr "127.0.0.1:$PUB_PORT" -pid "$SERVE_PID" -n "$MEM_CONNS" -label "bluegreen serve") || STATUS=1
		echo "$row"
	fi
	NGINX_ALL="$NGINX_PID,$(pgrep -P "$NGINX_PID" | paste -sd, -)"
	"$WORK/bin/memory" -addr "127.0.0.1:$NGINX_PORT" -pid "$NGINX_ALL" -n "$MEM_CONNS" -label "nginx (master + workers)" || STATUS=1
	"$WORK/bin/memory" -addr "$BLUE" -pid "$BLUE_PID" -n "$MEM_CONNS" -label "backend alone (direct)" || STATUS=1
	echo
	if [[ -n $BIN && -n ${row:-} ]]; then
		mib=$(awk -F'|' '{print $4 + 0}' <<<"$row")
		verdict=$(awk -v m="$mib" 'BEGIN {if (m * 1048576 < 50e6) print "met"; else print "NOT met"}')
		echo "- target bluegreen RSS < 50 MB with $MEM_CONNS connections: $mib MiB, $verdict"
		echo
	fi
fi

# ---- a hand-over under load (last: serve is another process after it) ----
if has_part handover && [[ -n $BIN ]]; then
	# log_ms PATTERN: the time (ms since the epoch) of serve.log's first line
	# matching PATTERN; the old and the new serve share that file.
	log_ms() {
		local t
		t=$(grep -m1 "$1" "$WORK/serve.log" | sed -n 's/^time=\([^ ]*\) .*/\1/p')
		[[ -n $t ]] || die "no line matching '$1' in $WORK/serve.log"
		date -d "$t" +%s%3N
	}
	echo "## Hand-over under load: wrk -t$THREADS -c$CONNS -d$DURATION, SIGUSR2 to serve a third of the way in"
	echo
	# no_watch: serve refuses a hand-over while a post-switch watch runs
	# (the switch part's last switch started one; watch.window is 10s).
	no_watch() {
		local st
		st=$(curl -fsS -H "Authorization: Bearer $(cat "$STATE/api-token")" "http://127.0.0.1:$API_PORT/v1/status") &&
			[[ $st != *'"watch":'* ]]
	}
	wait_for "the post-switch watch to end" "$SERVE_PID" no_watch
	out=$WORK/wrk-handover.txt
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$PUB_PORT/" >"$out" &
	wrk_pid=$!
	sleep "$(awk -v ms="$(to_ms "$DURATION")" 'BEGIN {print ms / 3000}')" # into the run, not a synchronisation
	kill -USR2 "$SERVE_PID"
	wait_for "the old serve to hand over" "$wrk_pid" grep -q 'msg="handed over; exiting"' "$WORK/serve.log"
	wait "$SERVE_PID" || die "the old serve ended with status $? after the hand-over; see $WORK/serve.log"
	NEW_PID=$(sed -n 's/.*msg="handed over; exiting" to=\([0-9]*\).*/\1/p' "$WORK/serve.log")
	[[ -n $NEW_PID ]] || die "the old serve exited without handing over; see $WORK/serve.log"
	PIDS+=("$NEW_PID")
	wait "$wrk_pid"
	signal_ms=$(log_ms 'SIGUSR2: handing over')
	ready_ms=$(log_ms 'took over from the old serve')
	exit_ms=$(log_ms 'handed over; exiting')
	errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
		/Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
		END {print n + 0}' "$out")
	echo "| figure | value |"
	echo "|---|---|"
	echo "| requests (wrk, whole run) / errors | $(awk '/requests in/ {print $1}' "$out") / $errs |"
	echo "| req/s, p50 / p99 (whole run) | $(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out"), $(awk '$1 == "50%" {print $2}' "$out") / $(awk '$1 == "99%" {print $2}' "$out") |"
	echo "| SIGUSR2 -> the new serve accepts on the sockets | $((ready_ms - signal_ms)) ms |"
	echo "| SIGUSR2 -> the old serve exits (its $CONNS connections closed at a request boundary) | $((exit_ms - signal_ms)) ms |"
	echo "| new serve | pid $NEW_PID (was $SERVE_PID) |"
	echo
	echo "- target 0 errors across a hand-over: $errs, $(met "$errs == 0")"
	echo
	((errs == 0)) || STATUS=1
	SERVE_PID=$NEW_PID

	# The baseline: nginx's own way to take a new configuration without a
	# restart, a reload (SIGHUP to the master: new workers, old ones close
	# their idle kept-alive connections), under the same load.
	out=$WORK/wrk-nginx-reload.txt
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$NGINX_PORT/" >"$out" &
	wrk_pid=$!
	sleep "$(awk -v ms="$(to_ms "$DURATION")" 'BEGIN {print ms / 3000}')" # into the run, not a synchronisation
	kill -HUP "$NGINX_PID"
	wait "$wrk_pid"
	nerrs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
		/Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
		END {print n + 0}' "$out")
	# No such line when nginx had no error (grep's status 1 is not a failure).
	detail=$({ grep -E 'Socket errors|Non-2xx' "$out" || true; } | sed 's/^ *//' | paste -sd';' - | sed 's/;/; /g')
	echo "- baseline, nginx reload (SIGHUP to the master) under the same load: $(awk '/requests in/ {print $1}' "$out") requests, $nerrs errors${detail:+ ($detail)}"
	echo
fi

exit "$STATUS"
