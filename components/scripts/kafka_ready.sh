#!/bin/bash
# Kafka's readiness probe: Ready means caught up, not merely listening (README "Rolling without a write outage").
# The PodDisruptionBudget and the StatefulSet's rolling update count Ready pods, so a node is taken down only
# once the previous one is back in sync.
#
# Usage: kafka_ready.sh ROLE...   (broker, controller, or both for a combined node)
#   broker      BrokerState is RUNNING (3), and no partition this broker follows is behind its leader's high
#               watermark (ReplicaFetcherManager MaxLag = 0, the condition for the leader to add it to the ISR)
#   controller  a quorum leader is known, and this node's metadata log has reached the quorum's high watermark
# Reads this pod's own JMX exporter on localhost (the metric names come from the chart's rules and ours).
# Exit 0: ready. Exit 1: not ready, with the reason on stdout (the kubelet puts it in the probe's event).
set -uo pipefail

url="${KAFKA_READY_METRICS_URL:-http://127.0.0.1:5556/metrics}"
if ! metrics="$(curl -sf --max-time 8 "$url")"; then
  echo "not ready: no metrics from the JMX exporter at ${url}"
  exit 1
fi

# All comparisons happen in awk: values may come as 1.2345E8, and some awks print large numbers as 1e+08.
awk -v roles=" $* " '
  /^#/ { next }
  {
    series = $1; base = series; sub(/\{.*/, "", base)
    if (base == "kafka_server_kafkaserver_total_brokerstate_value") state = $2
    else if (base == "kafka_server_replicafetchermanager_maxlag_value" && index(series, "client_id=\"Replica\"")) lag = $2
    else if (base == "kafka_server_raft_metrics_current_leader") leader = $2
    else if (base == "kafka_server_raft_metrics_high_watermark") hw = $2
    else if (base == "kafka_server_raft_metrics_log_end_offset") leo = $2
  }
  function fail(reason) { print "not ready: " reason; exit 1 }
  END {
    if (roles !~ / (broker|controller) /) fail("no role given (broker, controller)")
    if (index(roles, " broker ")) {
      if (state == "") fail("BrokerState is missing from the metrics")
      if (state + 0 != 3) fail("broker state " state " is not RUNNING (3)")
      if (lag == "") fail("the replica fetchers report no MaxLag")
      if (lag + 0 > 0) fail("a followed partition is " lag " records behind its leader")
    }
    if (index(roles, " controller ")) {
      if (leader == "" || hw == "" || leo == "") fail("the KRaft metrics are missing")
      if (leader + 0 < 0) fail("no quorum leader is known")
      if (hw + 0 < 0) fail("the quorum high watermark is not known yet")
      if (leo + 0 < hw + 0) fail("the metadata log is at " leo ", behind the high watermark " hw)
    }
    print "ready"
  }
' <<<"$metrics"
