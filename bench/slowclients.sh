#!/usr/bin/env bash
# bench/slowclients.sh: fast clients' throughput while slow clients load an
# app with few synchronous workers, through nginx, bluegreen (buffering on,
# its default) and bluegreen with buffering off, in the same run.
#
# The app is a WSGI app under gunicorn with 4 sync workers (Debian's
# gunicorn): GET / answers 6 bytes, POST /upload reads its body, GET /big
# answers 4 MiB. bench/slowclients keeps -u slow uploaders (1 MiB bodies at
# 4 KiB/s) and -r slow readers (/big at 64 KiB/s) on the target while
# `wrk -t2 -c32` measures GET / for -d. Rounds alternate the targets.
# Prints a Markdown table. Usage: bash bench/slowclients.sh [-d 10s] [-n ROUNDS] [-u 200] [-r 200]
set -euo pipefail

DURATION=10s
ROUNDS=3
UPLOADERS=200
READERS=200
while (($#)); do
	case $1 in
	-d) DURATION=$2; shift 2 ;;
	-n) ROUNDS=$2; shift 2 ;;
	-u) UPLOADERS=$2; shift 2 ;;
	-r) READERS=$2; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "usage: bash bench/slowclients.sh [-d 10s] [-n ROUNDS] [-u 200] [-r 200]" >&2; exit 2 ;;
	esac
done

die() { echo "slowclients.sh: $*" >&2; exit 1; }
log() { echo "slowclients.sh: $*" >&2; }
GUNICORN=$(command -v gunicorn || echo /usr/bin/gunicorn)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $GUNICORN ]] || die "gunicorn is not installed (apt-get install gunicorn)"
[[ -x $NGINX ]] || die "nginx is not installed (apt-get install nginx-light)"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bluegreen-slow.XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[i]}" 2>/dev/null || true
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # name pid command...
	local name=$1 pid=$2 i
	shift 2
	for ((i = 0; i < 200; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || die "$name exited"
		sleep 0.05
	done
	die "$name did not come up"
}

go build -o "$WORK/bin/" ./cmd/bluegreen ./bench/slowclients
BIN=$WORK/bin/bluegreen

# ---- the app: gunicorn, 4 sync workers ----
cat >"$WORK/app.py" <<'PY'
BIG = b"b" * (4 << 20)

def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/upload":
        n, body = 0, environ["wsgi.input"]
        while True:
            chunk = body.read(65536)
            if not chunk:
                break
            n += len(chunk)
        data = b"%d\n" % n
    elif path == "/big":
        data = BIG
    else:
        data = b"hello\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
PY
APP_PORT=$(freeport)
"$GUNICORN" --chdir "$WORK" -w 4 -k sync -b "127.0.0.1:$APP_PORT" --timeout 120 --log-level warning app:app >"$WORK/gunicorn.log" 2>&1 &
PIDS+=($!)
wait_for gunicorn "${PIDS[-1]}" curl -fsS "http://127.0.0.1:$APP_PORT/"
# The other color needs an upstream of its own (colors share none); it takes no traffic here.
OTHER_PORT=$(freeport)
"$GUNICORN" --chdir "$WORK" -w 1 -k sync -b "127.0.0.1:$OTHER_PORT" --log-level warning app:app >"$WORK/gunicorn-other.log" 2>&1 &
PIDS+=($!)
wait_for "gunicorn (other color)" "${PIDS[-1]}" curl -fsS "http://127.0.0.1:$OTHER_PORT/"

# ---- nginx, its buffering on (the default) ----
NGINX_PORT=$(freeport)
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    client_max_body_size 10m;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / { proxy_pass http://127.0.0.1:$APP_PORT; }
    }
}
CONF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
wait_for nginx "${PIDS[-1]}" curl -fsS "http://127.0.0.1:$NGINX_PORT/"

# ---- two serves: buffering on (the defaults) and off ----
start_serve() { # name extra-router-lines; sets PORT
	local name=$1 extra=$2
	local pub pre api
	pub=$(freeport) pre=$(freeport) api=$(freeport)
	mkdir -m 700 "$WORK/$name"
	cat >"$WORK/$name/bluegreen.yaml" <<YAML
listen: 127.0.0.1:$pub
preview: 127.0.0.1:$pre
api: 127.0.0.1:$api
state: state
router:
  idle_timeout: 10m
$extra
watch: {enabled: false}
blue:
  branch: blue
  upstreams: [127.0.0.1:$APP_PORT]
  health: {path: /, interval: 2s}
green:
  branch: green
  upstreams: [127.0.0.1:$OTHER_PORT]
  health: {path: /, interval: 2s}
YAML
	chmod 600 "$WORK/$name/bluegreen.yaml"
	"$BIN" serve --config "$WORK/$name/bluegreen.yaml" >"$WORK/$name/serve.out" 2>"$WORK/$name/serve.log" &
	PIDS+=($!)
	wait_for "serve ($name)" "${PIDS[-1]}" curl -fsS "http://127.0.0.1:$pub/"
	PORT=$pub
}
start_serve on ""
BG_ON=$PORT
start_serve off "  buffer_requests: false
  buffer_responses: false"
BG_OFF=$PORT

# one TARGET-NAME ADDR: wrk's req/s for GET / with the slow clients on.
one() {
	local name=$1 addr=$2 secs out rps
	secs=${DURATION%s}
	"$WORK/bin/slowclients" -addr "$addr" -uploaders "$UPLOADERS" -readers "$READERS" -duration "$((secs + 4))s" >"$WORK/slow.out" 2>&1 &
	local slow=$!
	sleep 2 # the slow clients take their places first (bench pacing)
	out=$(wrk -t2 -c32 -d"$DURATION" --timeout 10s "http://$addr/" 2>&1) || true
	wait "$slow" || true
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	log "$name: ${rps:-0} req/s; $(cat "$WORK/slow.out")"
	echo "${rps:-0}"
}

declare -A RPS
for ((r = 1; r <= ROUNDS; r++)); do
	for t in nginx bluegreen bluegreen-off; do
		case $t in
		nginx) addr=127.0.0.1:$NGINX_PORT ;;
		bluegreen) addr=127.0.0.1:$BG_ON ;;
		bluegreen-off) addr=127.0.0.1:$BG_OFF ;;
		esac
		RPS[$t]+="$(one "$t" "$addr") "
		sleep 3 # let gunicorn's workers finish what the slow clients left (bench pacing)
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "## Slow clients: $UPLOADERS slow uploaders + $READERS slow readers + wrk -t2 -c32 -d$DURATION GET /, gunicorn with 4 sync workers"
echo
echo "| target | req/s by round | median |"
echo "|---|---|---:|"
for t in nginx bluegreen bluegreen-off; do
	echo "| $t | ${RPS[$t]} | $(median <<<"${RPS[$t]}") |"
done
echo
n=$(median <<<"${RPS[nginx]}") on=$(median <<<"${RPS[bluegreen]}") off=$(median <<<"${RPS[bluegreen-off]}")
awk -v n="$n" -v on="$on" -v off="$off" 'BEGIN {
	r1 = (n > 0) ? on / n : 0; r2 = (off > 0) ? on / off : 1e9
	printf "- bluegreen (buffering) over nginx (buffering): %.2fx (target >= 0.9x: %s)\n", r1, (r1 >= 0.9 ? "met" : "NOT met")
	printf "- bluegreen buffering on over off: %s (target >= 5x: %s)\n", (off > 0 ? sprintf("%.1fx", r2) : "off served nothing"), (r2 >= 5 ? "met" : "NOT met")
}'
