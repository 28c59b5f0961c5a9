#!/bin/bash
# Kafka's readiness probe: a restarted node is Ready only once it is back in sync, not when its port opens
# (README "Rolling without a write outage"). The PodDisruptionBudget and the StatefulSet's rolling update
# count Ready pods, so a roll or a drain takes the next node only once the last one has caught up.
#
# Usage: kafka_ready.sh ROLE...   (broker, controller, or both for a combined node)
#   broker      BrokerState is RUNNING (3), and in sync: no partition it follows behind its leader's high
#               watermark (ReplicaFetcherManager MaxLag 0, the condition for the leader to add it to the ISR)
#               and none failed (FailedPartitionsCount 0). Once it has stayed in sync for SETTLE seconds
#               without a break since this container started, it stays Ready while RUNNING: a broker
#               catching up a reassignment, or one whose JMX exporter restarts, keeps its place in the
#               bootstrap Service (which lists Ready pods only). The wait matters: right after RUNNING, a
#               partition whose first fetch has not returned is missing from MaxLag, which reads 0.
#   controller  a quorum leader is known, and this node has applied the metadata log to within 5 s of its
#               newest record (LastAppliedRecordLagMs; the leader writes a record every 500 ms).
# Reads this pod's own JMX exporter on localhost (the names come from the chart's rules and ours).
# Exit 0: ready. Exit 1: not ready, with the reason on stdout (the kubelet puts it in the probe's event).
set -uo pipefail

url="${KAFKA_READY_METRICS_URL:-http://127.0.0.1:5556/metrics}"
latch="${KAFKA_READY_LATCH:-/tmp/kafka-ready-since}"  # "<instance> <first second of the unbroken in-sync run>"
settle="${KAFKA_READY_SETTLE_SECONDS:-60}"
now="${KAFKA_READY_NOW:-$(date +%s)}"  # the tests set the clock
# this container's instance: PID 1's start time (/tmp outlives a container restart, this does not)
instance="$(awk '{ print $22 }' "${KAFKA_READY_PROC_STAT:-/proc/1/stat}" 2>/dev/null)"
read -r latched_instance in_sync_since _ 2>/dev/null <"$latch"
caught_up_before=false
if [[ -n "$instance" && "${latched_instance:-}" == "$instance" ]] && (( now - ${in_sync_since:-now} >= settle )); then
  caught_up_before=true
fi

if ! metrics="$(curl -sf --max-time 8 "$url")"; then
  if [[ "$caught_up_before" == true && " $* " != *" controller "* ]]; then
    echo "ready: stayed in sync after this container started; no metrics from the JMX exporter at ${url} now"
    exit 0
  fi
  echo "not ready: no metrics from the JMX exporter at ${url}"
  exit 1
fi

# All comparisons happen in awk: values may come as 1.2345E8, and some awks print large numbers as 1e+08.
verdict="$(awk -v roles=" $* " -v caught_up_before="$caught_up_before" '
  /^#/ { next }
  {
    series = $1; base = series; sub(/\{.*/, "", base)
    replica = index(series, "client_id=\"Replica\"") > 0
    if (base == "kafka_server_kafkaserver_total_brokerstate_value") state = $2
    else if (base == "kafka_server_replicafetchermanager_maxlag_value" && replica) lag = $2
    else if (base == "kafka_server_replicafetchermanager_failedpartitionscount_value" && replica) failed = $2
    else if (base == "kafka_server_raft_metrics_current_leader") leader = $2
    else if (base == "kafka_controller_kafkacontroller_lastappliedrecordlagms_value") applied_lag = $2
  }
  function fail(reason) { print "not ready: " reason; exit 1 }
  END {
    if (roles !~ / (broker|controller) /) fail("no role given (broker, controller)")
    if (index(roles, " controller ")) {
      if (leader == "" || applied_lag == "") fail("the KRaft metrics are missing")
      if (leader + 0 < 0) fail("no quorum leader is known")
      if (applied_lag + 0 > 5000) fail("the metadata log is applied only up to " applied_lag " ms ago")
    }
    if (index(roles, " broker ")) {
      if (state == "") fail("BrokerState is missing from the metrics")
      if (state + 0 != 3) fail("broker state " state " is not RUNNING (3)")
      if (lag == "" || failed == "") fail("the replica fetchers report no MaxLag or FailedPartitionsCount")
      behind = ""
      if (lag + 0 > 0) behind = "a followed partition is " lag " records behind its leader"
      else if (failed + 0 > 0) behind = failed " followed partitions failed"
      if (behind != "" && caught_up_before == "true") { print "ready: stayed in sync after this container started; now " behind; exit 0 }
      if (behind != "") fail(behind)
    }
    print "ready"
  }
' <<<"$metrics")"
status=$?
echo "$verdict"
if [[ -n "$instance" && " $* " == *" broker "* && "$caught_up_before" == false ]]; then
  if [[ "$verdict" == "ready" ]]; then
    # in sync: start (or continue) the unbroken run that settles this container once SETTLE seconds long
    [[ "${latched_instance:-}" == "$instance" ]] || echo "$instance $now" >"$latch"
  else
    rm -f "$latch"  # any break starts the run over
  fi
fi
exit "$status"
