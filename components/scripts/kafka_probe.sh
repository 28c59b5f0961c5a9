#!/usr/bin/env bash
# What a Kafka listener does with one ApiVersions request from this pod, as one word and a detail:
#   answered     Kafka replied: it answers ApiVersions to anyone, before any authentication
#   closed       a TCP connection opened, then was closed or reset with no reply
#   silent       a TCP connection opened, and nothing came back within the wait
#   unreachable  no TCP connection at all (DNS, routing, a network policy, nothing listening)
#   garbled      bytes came back that are not Kafka's reply
# Usage: kafka_probe.sh HOST PORT [SECONDS]. Plain bash (/dev/tcp), od and timeout: no JVM, no Kafka client,
# so it tests the transport and nothing else.
set -u
host="$1" port="$2" wait="${3:-10}"
# ApiVersions v0: size 22, api key 18, version 0, correlation id 7, client id "kafka-verify" (12 bytes)
request='\x00\x00\x00\x16\x00\x12\x00\x00\x00\x00\x00\x07\x00\x0ckafka-verify'
marks="$(mktemp)"
trap 'rm -f "$marks" "$marks.err"' EXIT

reply="$(timeout "$wait" bash -c '
  trap "" PIPE
  exec 3<>"/dev/tcp/$1/$2" || exit 3
  echo connected >> "$4"
  printf "%b" "$3" >&3 || exit 0  # closed before the request went out: no reply either
  od -An -tx1 -N8 <&3 | tr -d " \n"
' probe "$host" "$port" "$request" "$marks" 2> "$marks.err")"
rc=$?
error="$(grep -v '^$' "$marks.err" | tail -n 1 | sed -e 's/^probe: line [0-9]*: //')"

if [[ $rc -eq 124 ]]; then
  if grep -q connected "$marks"; then
    echo "silent: connected to $host:$port, no reply and no close within ${wait}s"
  else
    echo "unreachable: no TCP connection to $host:$port within ${wait}s"
  fi
elif [[ $rc -eq 3 ]]; then
  echo "unreachable: ${error:-cannot connect to $host:$port}"
elif [[ -z "$reply" ]]; then
  if [[ "$error" == *reset* ]]; then
    echo "closed: connected to $host:$port, then reset with no reply"
  else
    echo "closed: connected to $host:$port, then closed with no reply"
  fi
elif [[ "${reply:8:8}" == "00000007" ]]; then
  echo "answered: Kafka replied on $host:$port (correlation id 7)"
else
  echo "garbled: connected to $host:$port and got bytes that are not Kafka's reply (${reply})"
fi
