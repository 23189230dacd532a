package config

// Example returns a commented, valid bluegreen.yaml that documents every key
// with its default. `bluegreen init` prints it; the tests parse it.
func Example() string { return example }

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
  # Upstream dial timeout.
  connect_timeout: 5s
  # Request body limit: bytes, or a size with B, KB, MB, GB (powers of 1000)
  # or KiB, MiB, GiB (powers of 1024). 0 means unlimited.
  max_request_body: 0
  # false: incoming X-Forwarded-* headers are replaced, not appended to.
  trust_forwarded_headers: false

blue:
  # The git branch this color deploys from.
  branch: blue
  # Where this color's app listens (at least one).
  upstreams:
    - 127.0.0.1:9001
  # Health check; every key is optional and shows its default, except path.
  health:
    path: /healthz          # default /
    status: 200
    interval: 2s
    timeout: 1s             # at most interval
    healthy_threshold: 1    # consecutive passes to become healthy
    unhealthy_threshold: 3  # consecutive failures to become unhealthy

green:
  branch: green
  upstreams:
    - 127.0.0.1:9002
  health:
    path: /healthz
`
