# Sourced by the project's HTTP bench scripts; defines one function:
#
#   bench_config BIN PORT STORE_JSON [LOG_FILTER]
#
# prints the example server's config that ../shared/bench/versus.sh runs
# (its `gh_config`): listening on 127.0.0.1:PORT, a huge limiter burst (so
# forged-token runs measure answers, not 429s), a fresh signing key, and
# the kit's two clients, `bench-client` (client_credentials) and the
# resource server `bench-rs`, their secrets hashed by BIN's `hash-secret`.
# The log filter is the default `info` unless LOG_FILTER is given.
bench_config() {
  local bin=$1 port=$2 store=$3 log=""
  [ -n "${4:-}" ] && log="\"log\": {\"filter\": \"$4\"},"
  local client rs key
  client=$(printf %s bench-client-secret-0123456789abcdef | "$bin" hash-secret)
  rs=$(printf %s bench-rs-secret-0123456789abcdef | "$bin" hash-secret)
  key=$(head -c 32 /dev/urandom | base64)
  cat <<JSON
{
  "listen": "127.0.0.1:$port", "issuer": "http://127.0.0.1:$port", $log
  "access_token_ttl": 3600, "refresh_token_ttl": 2592000, "code_ttl": 60, "clock_skew": 5,
  "limiter": { "burst": 1000000000, "per_minute": 60 },
  "store": $store, "max_body_bytes": 16384,
  "keys": { "signing": { "id": "k1", "secret_b64": "$key" }, "verify_only": [] },
  "clients": [
    { "id": "bench-client", "auth": { "type": "confidential", "secret": "$client" },
      "grant_types": ["client_credentials"], "scope": "api", "default_scope": "api", "audiences": ["https://api.bench.example/"] },
    { "id": "bench-rs", "auth": { "type": "confidential", "secret": "$rs",
      "resource_server": { "resources": ["https://api.bench.example/"] } }, "grant_types": [] }
  ]
}
JSON
}
