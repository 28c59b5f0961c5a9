#!/usr/bin/env bash
# Proves from inside the cluster, with the Kafka 4.0 CLI, that Kafka keeps what it acknowledges and refuses what
# the platform says no to. It runs in the verification's meshed pod (components/verification.py) as the declared
# verification user, after the access Job; `pulumi up` fails when any check fails, with this script's summary.
#
#   topic           the verification topic has the cluster's replication factor and min.insync.replicas
#   produce-consume RECORDS records produced with acks=all and idempotence come back once each, unchanged;
#                   produce latency (acknowledgement) and end-to-end latency (send to receipt) are reported
#   no-acl          a user that signs in and has no ACL gets TopicAuthorizationException on the topic
#   wrong-password  the verification user with a wrong password gets "invalid credentials" (SCRAM-SHA-512)
#   plain           a PLAIN login on the client listener is refused as a mechanism the server does not enable
#   probe-control   kafka_probe.sh from this (allowed) pod gets Kafka's answer: the control for the two pod
#                   checks (verify_refused.sh), which read "closed with no reply" from the same probe as a refusal
# A negative check passes only on its own error: any other error (a timeout, an unreachable broker, a login
# that failed when authorization was under test) fails it with what was seen.
#
# Environment:
#   BOOTSTRAP, TOPIC, GROUP_PREFIX (the consumer groups the user may read), RECORDS,
#   REPLICATION_FACTOR, MIN_INSYNC_REPLICAS  what the topic must have
#   CLIENT   the verification user's Secret (client.properties, username, password)
#   NO_ACL   the no-ACL user's Secret
#   HOST, PORT  Kafka's client Service, for the probe
#   WAIT     seconds to wait for the records to come back (60); RESULT where the summary goes
# Each step has its own timeout; together at most about 9 minutes, inside the Job's deadline.
set -u
export PATH="${KAFKA_BIN:-/opt/bitnami/kafka/bin}:$PATH"
wait_seconds="${WAIT:-60}"
work="$(mktemp -d)"
consumer=""
cleanup() { [[ -n "$consumer" ]] && kill "$consumer" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
umask 077

failures=() passes=()
result="${RESULT:-/dev/termination-log}"
# the termination message always says how far it got: a Job killed at its deadline still tells `pulumi up`
running() {
  { echo -n "kafka verification did not finish: it was running $1"
    ((${#passes[@]})) && echo -n "; passed: ${passes[*]}"
    ((${#failures[@]})) && printf '; failed: %s' "${failures[@]}"
    echo; } > "$result" 2>/dev/null || true
}
pass() { echo "PASS $1: $2"; passes+=("$1"); }
fail() { echo "FAIL $1: $2"; failures+=("$1: $2"); }
hide() { sed -e 's/password="[^"]*"/password="(hidden)"/g'; }
# the first line that says what went wrong: an exception's message, else an ERROR log line
first_error() {
  { grep -m 1 -E '^[a-z.]+\.[A-Za-z]+(Exception|Error): ' "$1" \
      || grep -m 1 -E ' ERROR |Exception|rror' "$1" || echo "no error message"; } | hide | cut -c 1-300
}

# One record from a throwaway console producer; its whole output (log lines, stack traces) in $work/$1.out
attempt_produce() {
  local name="$1" properties="$2"
  running "$name"
  echo "verify-$name" | timeout 60 kafka-console-producer.sh --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
    --producer.config "$properties" --producer-property max.block.ms=30000 --producer-property acks=all \
    > "$work/$name.out" 2>&1
  echo "exit code $?" >> "$work/$name.out"
}

# A negative check: refused with the expected message passes; any other error fails; no error fails harder.
judge() {
  local name="$1" expected="$2" accepted="$3" out="$work/$1.out"
  if grep -qF "$expected" "$out"; then
    pass "$name" "refused as expected: $(grep -m 1 -oF "$expected" "$out")"
  elif grep -qE 'Exception|ERROR|exit code [1-9]' "$out"; then
    fail "$name" "refused for another reason: $(first_error "$out")"
  else
    fail "$name" "$accepted"
  fi
}

user="$(cat "$CLIENT/username")"

# --------------------------------------------------------------------------- topic
running topic
if timeout 60 kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --command-config "$CLIENT/client.properties" \
    --describe --topic "$TOPIC" > "$work/topic.out" 2>&1; then
  rf="$(grep -m 1 -o 'ReplicationFactor: [0-9]*' "$work/topic.out" | cut -d ' ' -f 2)"
  min_isr="$(grep -m 1 -o 'min.insync.replicas=[0-9]*' "$work/topic.out" | cut -d = -f 2)"
  partitions="$(grep -c $'\tPartition: ' "$work/topic.out")"
  # partitions whose in-sync replicas are fewer than the replicas: worth a line, not a failure
  lagging="$(awk -F '\t' '/\tPartition: /{ for (i = 1; i <= NF; i++) { if ($i ~ /^Replicas: /) r = split(substr($i, 11), a, ",");
    if ($i ~ /^Isr: /) n = split(substr($i, 6), b, ","); if ($i ~ /^Partition: /) p = substr($i, 12) } if (n < r) printf "%s ", p }' "$work/topic.out")"
  if [[ "$rf" == "$REPLICATION_FACTOR" && "$min_isr" == "$MIN_INSYNC_REPLICAS" ]]; then
    pass topic "$TOPIC has $partitions partitions, replication factor $rf, min.insync.replicas $min_isr${lagging:+; under-replicated partitions: $lagging}"
  else
    fail topic "$TOPIC has replication factor ${rf:-?} and min.insync.replicas ${min_isr:-unset}; the cluster's are $REPLICATION_FACTOR and $MIN_INSYNC_REPLICAS"
  fi
else
  fail topic "cannot describe $TOPIC: $(first_error "$work/topic.out")"
fi

# --------------------------------------------------------------------------- produce-consume
# A consumer of its own group first; a marker proves it is assigned and at the end of every partition, so the
# records that follow are read as they arrive, and each gets its arrival time (this pod's clock, like the
# producer's CreateTime).
running produce-consume
run="$(date +%s)-$$"
consumed="$work/consumed"
: > "$consumed"
# $! is timeout's pid: killing it stops the consumer, whose end of output ends the stamping loop
timeout "$((wait_seconds * 3 + 120))" kafka-console-consumer.sh --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
  --consumer.config "$CLIENT/client.properties" --group "${GROUP_PREFIX}${run}" \
  --consumer-property enable.auto.commit=false --property print.timestamp=true 2> "$work/consumer.err" \
  > >(while IFS= read -r line; do t="${EPOCHREALTIME//[.,]/}"; printf '%s\t%s\n' "${t:0:13}" "$line"; done \
       > "$consumed" 2>&1) &
consumer=$!

live=""
deadline=$(( $(date +%s) + wait_seconds ))
while [[ -z "$live" && $(date +%s) -lt $deadline ]]; do
  echo "marker-$run" | timeout 45 kafka-console-producer.sh --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC" \
    --producer.config "$CLIENT/client.properties" --producer-property acks=all --sync > "$work/marker.out" 2>&1
  for _ in 1 2 3 4 5 6 7 8; do  # 4 s, then another marker: one sent before the assignment is missed
    grep -qF "marker-$run" "$consumed" && { live=1; break; }
    kill -0 "$consumer" 2>/dev/null || break 2
    sleep 0.5
  done
done

if [[ -z "$live" ]]; then
  if ! kill -0 "$consumer" 2>/dev/null; then
    fail produce-consume "the consumer stopped: $(first_error "$work/consumer.err")"
  elif grep -qE 'Exception|ERROR' "$work/marker.out"; then
    fail produce-consume "a record was not acknowledged: $(first_error "$work/marker.out")"
  else
    fail produce-consume "a record was acknowledged and not read back within ${wait_seconds}s"
  fi
else
  timeout "$((wait_seconds + 60))" kafka-producer-perf-test.sh --topic "$TOPIC" --num-records "$RECORDS" \
    --payload-monotonic --throughput -1 --producer.config "$CLIENT/client.properties" \
    --producer-props acks=all enable.idempotence=true linger.ms=0 \
    partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner > "$work/perf.out" 2>&1
  summary="$(grep -E '^[0-9]+ records sent, .* 99\.9th\.$' "$work/perf.out" | tail -n 1)"
  acknowledged="${summary%% records sent*}"
  # wait for every acknowledged record (and a moment more for duplicates)
  records() { sed -n -e "/marker-$run/,\$p" "$consumed" | awk -F '\t' '$3 ~ /^[0-9]+$/' ; }
  deadline=$(( $(date +%s) + wait_seconds ))
  while [[ "$(records | wc -l)" -lt "${acknowledged:-$RECORDS}" && $(date +%s) -lt $deadline ]]; do sleep 0.5; done
  sleep 1
  kill "$consumer" 2>/dev/null
  records > "$work/read"
  read_count="$(wc -l < "$work/read")"
  # the record values are 0 .. RECORDS-1 (--payload-monotonic): list up to five missing, repeated, unknown
  { read -r missing; read -r duplicated; read -r unexpected; } < <(cut -f 3 "$work/read" | awk -v n="$RECORDS" '
    { count[$1]++ }
    END { for (i = 0; i < n; i++) if (!(i in count) && m++ < 5) missing = missing (missing ? "," : "") i
          for (v in count) { if (v + 0 >= n && u++ < 5) unknown = unknown (unknown ? "," : "") v
                             if (count[v] > 1 && d++ < 5) twice = twice (twice ? "," : "") v }
          print missing; print twice; print unknown }')
  distinct="$(cut -f 3 "$work/read" | sort -u | wc -l)"
  if [[ "$acknowledged" != "$RECORDS" ]]; then
    fail produce-consume "${acknowledged:-0} of $RECORDS records were acknowledged with acks=all: $(first_error "$work/perf.out")"
  elif [[ -n "$missing" ]]; then
    fail produce-consume "$RECORDS records acknowledged, $read_count read back; never read: $missing"
  elif [[ -n "$duplicated" ]]; then
    fail produce-consume "$RECORDS records acknowledged, $read_count read back; read twice: $duplicated"
  elif [[ -n "$unexpected" ]]; then
    fail produce-consume "records read back that were never sent: $unexpected"
  elif [[ "$read_count" -ne "$RECORDS" || "$distinct" -ne "$RECORDS" ]]; then
    fail produce-consume "$RECORDS records acknowledged, $read_count read back ($distinct distinct)"
  else
    produce="$(echo "$summary" | sed -E 's/.* ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency, ([0-9]+) ms 50th, ([0-9]+) ms 95th, ([0-9]+) ms 99th.*/avg \1 ms, p50 \3 ms, p99 \5 ms, max \2 ms/')"
    # end to end: this pod's receipt time minus the record's CreateTime (set by the producer at send)
    e2e="$(awk -F '\t' '{ sub(/^CreateTime:/, "", $2); print $1 - $2 }' "$work/read" | sort -n \
      | awk '{ v[NR] = $1; s += $1 } END { printf "avg %.1f ms, p50 %d ms, p99 %d ms, max %d ms", s / NR, v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.99) + 1], v[NR] }')"
    pass produce-consume "$RECORDS records written with acks=all and idempotence, all read back once and unchanged; produce latency $produce; end-to-end latency $e2e"
  fi
fi

# --------------------------------------------------------------------------- refusals
attempt_produce no-acl "$NO_ACL/client.properties"
judge no-acl "TopicAuthorizationException: Not authorized to access topics: [$TOPIC]" \
  "a user with no ACL wrote to $TOPIC, a topic with ACLs: the authorizer does not enforce them"

wrong="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
grep -v '^sasl.jaas.config=' "$CLIENT/client.properties" > "$work/wrong.properties"
echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$user\" password=\"$wrong\";" >> "$work/wrong.properties"
attempt_produce wrong-password "$work/wrong.properties"
judge wrong-password "invalid credentials with SASL mechanism SCRAM-SHA-512" \
  "$user signed in with a wrong password"

# a random password too: the verdict needs none, and a real one never goes to a listener that may take PLAIN
grep -v -e '^sasl.jaas.config=' -e '^sasl.mechanism=' "$CLIENT/client.properties" > "$work/plain.properties"
{ echo "sasl.mechanism=PLAIN"
  echo "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$user\" password=\"$wrong\";"
} >> "$work/plain.properties"
attempt_produce plain "$work/plain.properties"
# what PlainSaslServer answers a login it checked: PLAIN is enabled
if grep -qF "Authentication failed: Invalid username or password" "$work/plain.out"; then
  fail plain "PLAIN is enabled on the client listener: the server checked the PLAIN login instead of refusing the mechanism"
else
  judge plain "Client SASL mechanism 'PLAIN' not enabled in the server" "$user signed in with PLAIN on the client listener"
fi

# --------------------------------------------------------------------------- probe-control
running probe-control
control="$(bash "$(dirname "$0")/kafka_probe.sh" "$HOST" "$PORT" 10)"
if [[ "$control" == answered* ]]; then
  pass probe-control "$control"
else
  fail probe-control "an allowed pod's probe got no answer from Kafka, so the pod checks could not tell a refusal: $control"
fi

# --------------------------------------------------------------------------- verdict
if ((${#failures[@]})); then
  summary="kafka verification failed: $(printf '%s; ' "${failures[@]}")"
  echo "$summary" | cut -c 1-3800 > "$result" 2>/dev/null || true
  exit 1
fi
echo "all checks passed" > "$result" 2>/dev/null || true
