#!/usr/bin/env bash
# One negative check of the mesh, from a pod that must be refused by Kafka's sidecar (components/verification.py):
#   CHECK=unmeshed  a pod with no sidecar: its plaintext connection must be refused (STRICT mTLS; the
#                   AuthorizationPolicy would refuse it too, as it names no plaintext peer)
#   CHECK=outsider  a meshed pod whose service account the AuthorizationPolicy does not allow: refused after mTLS
# Kafka answers an ApiVersions request from anyone before authentication (kafka_probe.sh), and the client checks
# ran the same probe from the allowed pod and got that answer (probe-control). So "connected, then closed with no
# reply", on every attempt, means something in front of Kafka refused us. What tells the right reason from another:
#   unmeshed  no Envoy answers on this pod's admin port (nothing here could speak mTLS), and every attempt was
#             closed: not refused, timed out or answered
#   outsider  for every attempt, this pod's Envoy completed a TLS handshake with Kafka's sidecar and saw no TLS
#             error and no failed connect (its cluster stats), and the connection was then closed with no reply:
#             the same path that answered the allowed identity, refused after mTLS, is the authorization filter
# Anything else fails the check with what was seen.
#
# Environment: CHECK, HOST, PORT (Kafka's client Service), ENVOY_CLUSTER (Envoy's name for it, outsider only),
#   SIDECAR_ADMIN (127.0.0.1:15000), ATTEMPTS (3), WAIT (10 s per attempt), RESULT (/dev/termination-log)
set -u
here="$(cd "$(dirname "$0")" && pwd)"
probe="${PROBE:-$here/kafka_probe.sh}"
admin="${SIDECAR_ADMIN:-127.0.0.1:15000}"
attempts="${ATTEMPTS:-3}" wait="${WAIT:-10}"

finish() {  # PASS or FAIL, printed and left where `pulumi up` shows it (the container's termination message)
  echo "$1"
  echo "$1" > "${RESULT:-/dev/termination-log}" 2>/dev/null || true
  [[ "$1" == PASS* ]]
  exit $?
}

stats() {  # this pod's Envoy counters for Kafka's service, as "handshake connect_fail connection_error"
  local file
  file="$(mktemp)"
  curl -sf -m 5 "http://$admin/stats" > "$file" || { rm -f "$file"; return 1; }
  local prefix="cluster.$ENVOY_CLUSTER."
  grep -qF "${prefix}" "$file" || { rm -f "$file"; return 2; }
  local name value values=""
  for name in ssl.handshake upstream_cx_connect_fail ssl.connection_error; do
    # a counter Envoy has not created yet (deferred stats) is 0
    value="$(grep -F "${prefix}${name}: " "$file" | head -n 1 | sed -e 's/.*: //')"
    values+="${value:-0} "
  done
  rm -f "$file"
  echo "$values"
}


case "${CHECK:-}" in
  unmeshed)
    if curl -s -m 3 -o /dev/null "http://$admin/ready"; then
      finish "FAIL unmeshed: cannot run: an Envoy answers on $admin, so this pod has a sidecar; it must have none"
    fi
    for ((i = 1; i <= attempts; i++)); do  # every attempt, each to whichever broker the Service picks
      result="$(bash "$probe" "$HOST" "$PORT" "$wait")"
      case "$result" in
        closed*) ;;
        answered*) finish "FAIL unmeshed: Kafka answered a pod without a sidecar in plaintext: mTLS is not STRICT on $HOST:$PORT" ;;
        *) finish "FAIL unmeshed: refused for another reason, not by Kafka's sidecar: $result" ;;
      esac
    done
    finish "PASS unmeshed: refused by Kafka's sidecar: a pod without a sidecar ${result#closed: }, before Kafka could answer ($attempts of $attempts attempts)"
    ;;
  outsider)
    for ((i = 1; i <= attempts; i++)); do  # every attempt, each with its own counters
      before="$(stats)"
      case $? in
        1) finish "FAIL outsider: cannot run: no Envoy answers on $admin, so this pod has no sidecar; it must be meshed" ;;
        2) before="0 0 0" ;;  # Envoy creates a cluster's traffic stats at its first use
      esac
      result="$(bash "$probe" "$HOST" "$PORT" "$wait")"
      after="$(stats)"
      case $? in
        1) finish "FAIL outsider: cannot read the sidecar's stats after the attempt ($admin)" ;;
        2) finish "FAIL outsider: cannot tell why a refusal happens: Envoy keeps no stats for $ENVOY_CLUSTER (the pod's proxyStatsMatcher)" ;;
      esac
      read -r handshake0 fail0 error0 <<< "$before"
      read -r handshake1 fail1 error1 <<< "$after"
      handshakes=$((handshake1 - handshake0)) connect_fails=$((fail1 - fail0)) tls_errors=$((error1 - error0))
      case "$result" in
        answered*) finish "FAIL outsider: Kafka answered a meshed pod whose service account the AuthorizationPolicy does not allow: the policy is not enforced" ;;
        closed*)
          if ((handshakes < 1 || connect_fails > 0 || tls_errors > 0)); then
            finish "FAIL outsider: refused for another reason, not by the AuthorizationPolicy: mTLS with Kafka's sidecar did not complete cleanly (ssl.handshake +$handshakes, ssl.connection_error +$tls_errors, upstream_cx_connect_fail +$connect_fails); $result"
          fi
          ;;
        *) finish "FAIL outsider: refused for another reason, not by the AuthorizationPolicy: $result" ;;
      esac
    done
    finish "PASS outsider: refused by the AuthorizationPolicy: each of $attempts attempts completed mTLS with Kafka's sidecar, which then closed the connection before Kafka could answer"
    ;;
  *) finish "FAIL: CHECK must be unmeshed or outsider, not '${CHECK:-}'" ;;
esac
