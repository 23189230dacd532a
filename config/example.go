package config

// Example returns a commented, valid bluegreen.yaml that documents every key
// with its default; its `app:` section and `port:` keys are commented out, so
// it routes to fixed upstreams. `bluegreen init` prints it; the tests parse
// it, also with the app section uncommented.
func Example() string { return example }

// ExampleApp returns a valid bluegreen.yaml in which bluegreen deploys and
// runs the app itself (an `app:` section with the process driver and a port
// per color). The tests parse it.
func ExampleApp() string { return exampleApp }

const example = `# bluegreen.yaml: one router in front of two colors, blue and green.
# Durations use Go syntax (500ms, 30s, 1m30s); addresses are host:port.

# Public listener: serves the live color.
listen: 127.0.0.1:8080
# Preview listener: serves the inactive color, for testing before a switch.
preview: 127.0.0.1:8081
# HTTP API listener (switch, rollback, status, history).
api: 127.0.0.1:8082
# State directory (state.db and the API token), relative to this file.
state: .bluegreen
# Or the state on etcd (endpoints, then a key prefix), with what stays local
# (the API token, releases, temp files) in data_dir:
# state: etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/bluegreen
# state_tls: {ca: etcd-ca.pem, cert: etcd-client.pem, key: etcd-client.key}
# state_auth: etcd-auth   # one line username:password, mode 0600
# data_dir: .bluegreen
# Several serves on one etcd serve the same color; one, elected, runs the
# controller (see docs/cluster.md). Each needs its own id:
# cluster: {id: edge-1, ttl: 10s, ack_timeout: 5s}
# The live color on the first start of a fresh state.
initial_live: blue

# Router settings; every key is optional and shows its default.
router:
  # Answers with the live color.
  color_path: /deployment/color/
  # Adds X-Bluegreen-Color to proxied responses.
  color_header: true
  # How long the old color's in-flight requests may run after a switch.
  drain_timeout: 30s
  read_header_timeout: 10s
  idle_timeout: 120s
  # Longest wait for more of a request body (a slow body is answered 408).
  body_timeout: 60s
  # Upstream dial timeout.
  connect_timeout: 5s
  # Request body limit: bytes, or a size with B, KB, MB, GB (powers of 1000)
  # or KiB, MiB, GiB (powers of 1024). 0 means unlimited.
  max_request_body: 0
  # Request head limits, the same on every data path: a head over
  # max_header_bytes or with more than max_headers header lines is answered
  # 431, a request target over max_uri_length 414 (nginx: 8k lines, 32k
  # heads; haproxy: 16k heads, 101 fields).
  max_header_bytes: 32KiB
  max_uri_length: 8KiB
  max_headers: 100
  # Request bodies are read whole before the app sees the request (as
  # nginx does), so a slow upload never holds an app worker: buffer_memory
  # of each in memory, the rest in a temp file in the state directory; the
  # whole body within body_deadline (408 after it).
  buffer_requests: true
  buffer_memory: 64KiB
  body_deadline: 5m
  # Answers with a length up to buffer_response_max are read from the app at
  # its speed and handed to slow clients from memory or a temp file, so a
  # slow reader never holds an app worker either. Answers without a length,
  # text/event-stream and "X-Accel-Buffering: no" stream as they come.
  buffer_responses: true
  buffer_response_max: 8MiB
  # Client connections each listener holds open; more wait in the kernel's
  # listen backlog. 0: derived from the file descriptor limit, keeping the
  # rest for upstream connections and the API.
  max_connections: 0
  # serve's soft memory limit (GOMEMLIMIT wins): past it the garbage
  # collector works harder and freed memory goes back to the system. 0: none.
  memory_limit: 512MiB
  # false: incoming X-Forwarded-* headers are replaced, not appended to.
  trust_forwarded_headers: false
  # false: request headers whose names hold an underscore are dropped
  # (WSGI servers read X_Forwarded_For as X-Forwarded-For).
  underscores_in_headers: false

# After every switch the new live color is watched; when it breaks a
# threshold, traffic goes back to the previous color by itself. The previous
# color keeps running meanwhile, so the rollback is instant.
watch:
  enabled: true
  window: 2m              # how long a new live color is watched
  interval: 5s            # how often its figures are judged
  min_requests: 20        # requests seen before judging at all
  max_error_ratio: 0.05   # share of 5xx answers since the switch (or 5%)
  # max_p99: 2s           # 99th percentile latency; not judged by default
  # stop_previous_after: 30m  # stop the previous color's app after a passed watch
  # prometheus:           # also ask Prometheus; {{color}} is the watched color
  #   url: http://127.0.0.1:9090
  #   query: sum(rate(http_errors_total{color="{{color}}"}[1m]))
  #   max: 1

# The app that ` + "`bluegreen deploy`" + ` puts into the inactive color. Without this
# section bluegreen only routes to the upstreams below; with it, each color
# also needs port (or ports) and its upstreams may be omitted.
# app:
#   # The git repository: a path (relative to this file) or a URL (https://,
#   # ssh://, git://, file://, or user@host:path). Required.
#   repo: /srv/app.git
#   # process (the default): bluegreen runs and supervises ` + "`run`" + `;
#   # command: your own deploy scripts (the command: section below).
#   driver: process
#   # The app's shell command (driver process); it must listen on $PORT.
#   run: gunicorn app.wsgi --bind 127.0.0.1:$PORT
#   # Shell commands run in order in the new release's directory.
#   build:
#     - python3 manage.py migrate --noinput
#     - python3 manage.py collectstatic --noinput
#   # Extra environment for build steps, the app and hooks. PORT and
#   # BLUEGREEN_* (COLOR, REF, SHA, ...) are set by bluegreen and reserved.
#   env:
#     DJANGO_SETTINGS_MODULE: app.settings
#   # How long a started app may take to pass its health check.
#   start_timeout: 60s
#   # Stopping sends SIGTERM, then SIGKILL after this.
#   stop_grace: 10s
#   # Release directories kept per color (at least 1).
#   keep_releases: 3
#   # Only with driver: command; deploy and stop are required.
#   # command:
#   #   deploy: ./deploy.sh
#   #   stop: ./stop.sh
#   #   status: ./status.sh
#   # Optional shell commands, same environment; a failing pre-hook stops
#   # the deploy or switch.
#   # hooks:
#   #   pre_deploy: ./bin/check-migrations
#   #   post_deploy: ./bin/notify deployed
#   #   pre_switch: ./bin/smoke-test
#   #   post_switch: ./bin/notify switched
#   #   # After an automatic rollback and a failed deploy or verification,
#   #   # with BLUEGREEN_EVENT and BLUEGREEN_MESSAGE.
#   #   notify: ./bin/page-the-team
#   # Verification checks, run by ` + "`bluegreen verify <color>`" + ` and at the end
#   # of every deploy, against the color under test: the preview listener
#   # for the inactive color, the public one for the live color. Each has a
#   # name and http: or command:. A command runs in the color's release
#   # directory with BLUEGREEN_URL and BLUEGREEN_COLOR set.
#   checks:
#     - name: home
#       http:
#         method: GET            # default GET
#         path: /api/status      # required
#         headers: {Accept: application/json}
#         status: 200            # default 200
#         body_contains: '"ok"'
#         json: {field: data.status, equals: ok}
#       timeout: 5s              # per attempt; default 30s
#       retries: 2               # default 0
#     - name: tests
#       command: python3 manage.py test --noinput
#       timeout: 10m
#   # Run the checks at the end of every deploy.
#   verify_on_deploy: true
#   # manual: a person or CI runs ` + "`bluegreen switch`" + `; auto: a deploy whose
#   # verification passed switches by itself.
#   promotion: manual
#   # Switch also needs ` + "`bluegreen approve <color>`" + ` (manual QA); manual only.
#   require_approval: false

blue:
  # The git branch this color deploys from.
  branch: blue
  # Where this color's app listens (at least one; with app: and a port,
  # it defaults to 127.0.0.1:<port>).
  upstreams:
    - 127.0.0.1:9001
  # With app: the port this color's app listens on, given to it as $PORT.
  # ports: [9001, 9011] lists several (command driver only; the process
  # driver runs one app process per color).
  # port: 9001
  # Health check; every key is optional and shows its default, except path.
  health:
    path: /healthz          # default /
    status: 200
    interval: 2s
    timeout: 1s             # at most interval
    healthy_threshold: 1    # consecutive passes to become healthy
    unhealthy_threshold: 3  # consecutive failures to become unhealthy
  # This color's own verification checks, after the app's (same form).
  # checks:
  #   - name: blue-only
  #     http: {path: /healthz}

green:
  branch: green
  upstreams:
    - 127.0.0.1:9002
  # port: 9002
  health:
    path: /healthz
`

const exampleApp = `# bluegreen.yaml for an app that bluegreen deploys and runs itself:
# ` + "`bluegreen deploy green`" + ` checks the green branch out into a new release
# directory, runs the build steps there, starts ` + "`run`" + ` with PORT=9002 and
# waits for the health check; ` + "`bluegreen switch green`" + ` then moves traffic.
# See ` + "`bluegreen init --print`" + ` for every key.

listen: 127.0.0.1:8080
preview: 127.0.0.1:8081
api: 127.0.0.1:8082

app:
  # A path relative to this file, or a URL.
  repo: ../app.git
  run: gunicorn app.wsgi --bind 127.0.0.1:$PORT --workers 3
  build:
    - python3 -m pip install -r requirements.txt
    - python3 manage.py migrate --noinput
    - python3 manage.py collectstatic --noinput
  env:
    DJANGO_SETTINGS_MODULE: app.settings
    PYTHONUNBUFFERED: 1
  start_timeout: 90s
  keep_releases: 5
  hooks:
    pre_switch: python3 manage.py check --deploy

blue:
  branch: production
  port: 9001          # upstreams: [127.0.0.1:9001]
  health:
    path: /healthz

green:
  branch: green
  port: 9002
  health:
    path: /healthz
`
