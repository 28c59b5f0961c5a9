#!/usr/bin/env bash
# Make Kafka's users, quotas, ACLs and topics equal to the declaration, with the Kafka 4.0 CLI.
# It runs as a Job that `pulumi up` creates and awaits (components/access.py), signed in as the platform
# admin through the mesh. It adds and removes, and a second run with the same declaration changes nothing.
#
# Environment:
#   BOOTSTRAP           client listener (SCRAM-SHA-512), e.g. kafka.kafka.svc.cluster.local:9092
#   INTERNAL_BOOTSTRAP  inter-broker listener (PLAIN), used only to give the admin its SCRAM credential
#   ADMIN_USER          the platform admin (a super user)
#   DECLARATION         tab-separated lines (components/access.py writes them):
#                         user  <name>  <quotas: k=v,k=v or ->
#                         acl   <user>  <TOPIC|GROUP|TRANSACTIONAL_ID|CLUSTER>  <LITERAL|PREFIXED>  <name>  <OPERATION>
#                               (a name of * is Kafka's wildcard; CLUSTER's name is kafka-cluster)
#                         topic <name>  <partitions>  <replication factor>  <configs: k=v,k=v or ->
#                         delete-topic <name>
#   CREDENTIALS         a folder with one file per user holding its password, and `_admin` (no user name
#                       starts with _)
#   KEEP_USERS          principals never touched (the internal users), space separated
#   PLATFORM_USERS      the platform's own users (verification, KMinion): their CLUSTER ACLs are managed too;
#                       other users' CLUSTER ACLs are left alone, as before the platform declared any
set -euo pipefail
set -f  # no globbing: a wildcard ACL names its resource "*"
export PATH="${KAFKA_BIN:-/opt/bitnami/kafka/bin}:$PATH"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }
say() { echo "$*"; }

admin_password="$(cat "$CREDENTIALS/_admin")"
# Never on the command line (ps would show it): properties files in a private folder.
umask 077
cat > "$work/admin.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$ADMIN_USER" password="$admin_password";
EOF
cat > "$work/bootstrap.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$ADMIN_USER" password="$admin_password";
EOF

configs() { kafka-configs.sh --bootstrap-server "$BOOTSTRAP" --command-config "$work/admin.properties" "$@"; }
acls() { kafka-acls.sh --bootstrap-server "$BOOTSTRAP" --command-config "$work/admin.properties" "$@"; }
topics() { kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --command-config "$work/admin.properties" "$@"; }
# A SCRAM credential goes in a properties file (--add-config-file), never on a command line that `ps`
# shows; there the value has no [brackets] (only --add-config strips them).
scram() { printf 'SCRAM-SHA-512=iterations=8192,password=%s\n' "$1" > "$work/scram.properties"; echo "$work/scram.properties"; }
# A call that carries a password: its errors go to a file and are shown with every password blanked.
secretly() {
  "$@" > /dev/null 2> "$work/error" && return 0
  sed -e 's/password=[^],;" ]*/password=(hidden)/g' "$work/error" >&2
  return 1
}
# kafka-topics.sh --topic is a regular expression: a dot would match any character (orders.v1, orders-v1)
literal() { echo "${1//./\\.}"; }
# READ -> Read, DESCRIBE_CONFIGS -> DescribeConfigs: the CLI's operation names
pascal() {
  local out="" word lower words
  IFS=_ read -ra words <<< "$1"
  for word in "${words[@]}"; do lower="${word,,}"; out+="${word:0:1}${lower:1}"; done
  echo "$out"
}
resource_flag() { case "$1" in TOPIC) echo --topic ;; GROUP) echo --group ;; TRANSACTIONAL_ID) echo --transactional-id ;; CLUSTER) echo --cluster ;; esac; }

# The admin signs in with SCRAM on the client listener: its credential is created at storage format. A
# cluster formatted before the admin existed lacks it; there (during the migration, when the mesh opens
# the inter-broker port to this Job) its static PLAIN login on that listener can create it.
if ! configs --describe --entity-type users --entity-name "$ADMIN_USER" > /dev/null 2>&1; then
  say "admin: no SCRAM credential yet, creating it through the inter-broker listener"
  secretly kafka-configs.sh --bootstrap-server "$INTERNAL_BOOTSTRAP" --command-config "$work/bootstrap.properties" \
    --alter --entity-type users --entity-name "$ADMIN_USER" --add-config-file "$(scram "$admin_password")" \
    || { echo "FAILED: $ADMIN_USER cannot sign in with SCRAM, and cannot get a credential through $INTERNAL_BOOTSTRAP" \
              "either; on a cluster that ran before access control, set kafka.authorization.allowEveryoneIfNoAcl" \
              "(README \"Turning authorization on\")" >&2; exit 1; }
  for _ in 1 2 3 4 5; do  # the new credential reaches every broker through the metadata log
    configs --describe --entity-type users --entity-name "$ADMIN_USER" > /dev/null 2>&1 && break
    sleep 2
  done
fi

declare -A declared_users=() declared_quotas=() declared_acls=() declared_topics=()
while IFS=$'\t' read -r kind a b c d e; do
  case "$kind" in
    user) declared_users["$a"]=1; declared_quotas["$a"]="$b" ;;
    acl) declared_acls["User:$a"$'\t'"$b"$'\t'"$c"$'\t'"$d"$'\t'"$e"]=1 ;;
    topic) declared_topics["$a"]="$b"$'\t'"$c"$'\t'"$d" ;;
    delete-topic) declared_topics["$a"]=delete ;;
    "") ;;
    *) fail "unknown declaration line: $kind" ;;
  esac
done < "$DECLARATION"
keep=" $ADMIN_USER ${KEEP_USERS:-} "

# --------------------------------------------------------------------------- users and quotas
configs --describe --entity-type users > "$work/users" || { fail "cannot list users"; exit 1; }
mapfile -t existing_users < <(sed -n "s/^SCRAM credential configs for user-principal '\([^']*\)' are.*/\1/p" "$work/users" | sort -u)
# "Quota configs for user-principal 'app' are a=1.0, b=2.0" -> a=1.0,b=2.0 (fixed strings: names may hold dots)
quotas_of() { local line; line="$(grep -F "Quota configs for user-principal '$1' are " "$work/users" || true)"; line="${line#* are }"; echo "${line// /}"; }
mechanisms_of() { local line; line="$(grep -F "SCRAM credential configs for user-principal '$1' are " "$work/users" || true)"; line="${line#* are }"; echo "$line" | grep -o 'SCRAM-SHA-[0-9]*' | paste -sd, -; }

for user in $(printf '%s\n' "${!declared_users[@]}" | sort); do
  password_file="$CREDENTIALS/$user"
  [[ -r "$password_file" ]] || { fail "user $user: no password in $password_file"; continue; }
  say "user $user: setting its SCRAM credential"
  secretly configs --alter --entity-type users --entity-name "$user" --add-config-file "$(scram "$(cat "$password_file")")" \
    || fail "user $user: cannot set its SCRAM credential"
  current="$(quotas_of "$user")"
  wanted="${declared_quotas[$user]}"
  [[ "$wanted" == "-" ]] && wanted=""
  for key in producer_byte_rate consumer_byte_rate request_percentage; do
    if [[ ",$current" == *",$key="* || "$current" == "$key="* ]] && [[ ",$wanted," != *",$key="* ]]; then
      say "user $user: removing quota $key"
      configs --alter --entity-type users --entity-name "$user" --delete-config "$key" > /dev/null \
        || fail "user $user: cannot remove quota $key"
    fi
  done
  if [[ -n "$wanted" ]]; then
    say "user $user: quotas $wanted"
    configs --alter --entity-type users --entity-name "$user" --add-config "$wanted" > /dev/null \
      || fail "user $user: cannot set quotas $wanted"
  fi
done

for user in "${existing_users[@]}"; do
  [[ -n "${declared_users[$user]:-}" || "$keep" == *" $user "* ]] && continue
  say "user $user: no longer declared, removing its SCRAM credentials"
  configs --alter --entity-type users --entity-name "$user" --delete-config "$(mechanisms_of "$user")" > /dev/null \
    || fail "user $user: cannot remove its SCRAM credentials"
  quotas="$(quotas_of "$user")"
  if [[ -n "$quotas" ]]; then
    keys="$(echo "$quotas" | sed -e 's/=[^,]*//g')"
    configs --alter --entity-type users --entity-name "$user" --delete-config "$keys" > /dev/null \
      || fail "user $user: cannot remove its quotas"
  fi
done

# --------------------------------------------------------------------------- ACLs
# "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)`:"
# followed by "(principal=User:app, host=*, operation=READ, permissionType=ALLOW)" lines.
acls --list > "$work/acls" || { fail "cannot list ACLs"; exit 1; }
declare -A existing_acls=()
resource=""
while IFS= read -r line; do
  if [[ "$line" =~ resourceType=([A-Z_]+),\ name=(.*),\ patternType=([A-Z]+)\) ]]; then
    resource="${BASH_REMATCH[1]}"$'\t'"${BASH_REMATCH[3]}"$'\t'"${BASH_REMATCH[2]}"
  elif [[ "$line" =~ principal=([^,]+),\ host=\*,\ operation=([A-Z_]+),\ permissionType=ALLOW ]] && [[ -n "$resource" ]]; then
    existing_acls["${BASH_REMATCH[1]}"$'\t'"$resource"$'\t'"${BASH_REMATCH[2]}"]=1
  fi
done < "$work/acls"

change_acl() {  # add|remove principal type pattern name operation
  local action="$1" principal="$2" type="$3" pattern="$4" name="$5" operation="$6" extra=() resource=()
  [[ "$action" == remove ]] && extra=(--force)
  resource=("$(resource_flag "$type")" "$name")
  [[ "$type" == CLUSTER ]] && resource=(--cluster)  # the flag takes no name
  acls "--$action" "${extra[@]}" --allow-principal "$principal" --operation "$(pascal "$operation")" \
    "${resource[@]}" --resource-pattern-type "${pattern,,}" > /dev/null \
    || fail "cannot $action ACL $principal $operation on $type $name ($pattern)"
}

for acl in $(printf '%s\n' "${!declared_acls[@]}" | sort | tr '\t' '|'); do
  key="${acl//|/$'\t'}"
  [[ -n "${existing_acls[$key]:-}" ]] && continue
  IFS=$'\t' read -r principal type pattern name operation <<< "$key"
  say "acl: allowing $principal $operation on $type $name ($pattern)"
  change_acl add "$principal" "$type" "$pattern" "$name" "$operation"
done
# Only the principals this script manages (declared users, and users that still had a SCRAM credential),
# and only the resource types it writes: anything else in the cluster is someone else's.
managed=" ${!declared_users[*]} ${existing_users[*]} "
for acl in $(printf '%s\n' "${!existing_acls[@]}" | sort | tr '\t' '|'); do
  key="${acl//|/$'\t'}"
  [[ -n "${declared_acls[$key]:-}" ]] && continue
  IFS=$'\t' read -r principal type pattern name operation <<< "$key"
  [[ "$keep" == *" ${principal#User:} "* || "$managed" != *" ${principal#User:} "* ]] && continue
  [[ -z "$(resource_flag "$type")" ]] && continue
  [[ "$type" == CLUSTER && " ${PLATFORM_USERS:-} " != *" ${principal#User:} "* ]] && continue
  say "acl: removing $principal $operation on $type $name ($pattern)"
  change_acl remove "$principal" "$type" "$pattern" "$name" "$operation"
done

# --------------------------------------------------------------------------- topics
topics --list --exclude-internal > "$work/topics" || { fail "cannot list topics"; exit 1; }
mapfile -t existing_topics < "$work/topics"
declare -A exists=()
for topic in "${existing_topics[@]}"; do [[ -n "$topic" ]] && exists["$topic"]=1; done

for topic in $(printf '%s\n' "${!declared_topics[@]}" | sort); do
  spec="${declared_topics[$topic]}"
  if [[ "$spec" == delete ]]; then
    if [[ -n "${exists[$topic]:-}" ]]; then
      say "topic $topic: deleting, as declared"
      topics --delete --topic "$(literal "$topic")" > /dev/null || fail "topic $topic: cannot delete"
    fi
    continue
  fi
  IFS=$'\t' read -r partitions replication settings <<< "$spec"
  [[ "$settings" == "-" ]] && settings=""
  if [[ -z "${exists[$topic]:-}" ]]; then
    say "topic $topic: creating with $partitions partitions, replication factor $replication"
    args=()
    if [[ -n "$settings" ]]; then IFS=, read -ra pairs <<< "$settings"; for pair in "${pairs[@]}"; do args+=(--config "$pair"); done; fi
    topics --create --topic "$topic" --partitions "$partitions" --replication-factor "$replication" "${args[@]}" > /dev/null \
      || fail "topic $topic: cannot create"
    continue
  fi
  topics --describe --topic "$(literal "$topic")" > "$work/describe" || { fail "topic $topic: cannot describe"; continue; }
  summary="$(sed -n 1p "$work/describe")"
  current_partitions="$(echo "$summary" | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p')"
  current_replication="$(echo "$summary" | sed -n 's/.*ReplicationFactor: *\([0-9]*\).*/\1/p')"
  if (( partitions < current_partitions )); then
    fail "topic $topic: has $current_partitions partitions and the declaration says $partitions; Kafka cannot remove partitions: declare $current_partitions or more"
  elif (( partitions > current_partitions )); then
    say "topic $topic: raising partitions from $current_partitions to $partitions"
    topics --alter --topic "$(literal "$topic")" --partitions "$partitions" > /dev/null \
      || fail "topic $topic: cannot raise partitions"
  fi
  if [[ "$current_replication" != "$replication" ]]; then
    fail "topic $topic: replication factor is $current_replication and the declaration says $replication; a change needs a partition reassignment (README \"Operations\")"
  fi
  # Settings set on the topic itself (not defaults): remove what the declaration dropped, set the rest.
  configs --describe --entity-type topics --entity-name "$topic" > "$work/settings" \
    || { fail "topic $topic: cannot read its settings"; continue; }
  mapfile -t current_settings < <(sed -n 's/^  \([a-z][a-z0-9.]*\)=\([^ ]*\) sensitive=.*/\1=\2/p' "$work/settings")
  for pair in "${current_settings[@]}"; do
    key="${pair%%=*}"
    if [[ ",$settings," != *",$key="* ]]; then
      say "topic $topic: removing setting $key"
      configs --alter --entity-type topics --entity-name "$topic" --delete-config "$key" > /dev/null \
        || fail "topic $topic: cannot remove setting $key"
    fi
  done
  if [[ -n "$settings" && "$(printf '%s\n' "${current_settings[@]}" | sort)" != "$(tr , '\n' <<< "$settings" | sort)" ]]; then
    say "topic $topic: settings $settings"
    configs --alter --entity-type topics --entity-name "$topic" --add-config "$settings" > /dev/null \
      || fail "topic $topic: cannot apply settings"
  fi
done

if (( failures > 0 )); then
  echo "reconcile: $failures change(s) failed; the declaration is not fully applied" >&2
  exit 1
fi
say "reconcile: users, quotas, ACLs and topics match the declaration"
