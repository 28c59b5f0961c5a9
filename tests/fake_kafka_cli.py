"""A stand-in for Kafka 4.0's CLI, for the tests of the scripts that run in the cluster: kafka-configs.sh,
kafka-acls.sh and kafka-topics.sh (the reconcile script), and kafka-console-producer.sh,
kafka-console-consumer.sh and kafka-producer-perf-test.sh (the verification).

It keeps the cluster's state in a JSON file ($FAKE_KAFKA_STATE), appends every call to $FAKE_KAFKA_LOG, checks
the sign-in the way the brokers do (SCRAM-SHA-512 on the client listener against the stored credentials,
PLAIN on the inter-broker listener against the static JAAS users), authorizes the clients' reads and writes
against the stored ACLs the way StandardAuthorizer does, and prints what the real tools print.

Faults for the failure paths, by environment variable: FAKE_KAFKA_LOSE=<n> (record n is acknowledged and never
stored), FAKE_KAFKA_DUPLICATE=<n> (stored twice), FAKE_KAFKA_NOT_ENOUGH_REPLICAS, FAKE_KAFKA_NO_AUTHORIZER (every
signed-in user may do anything), FAKE_KAFKA_PLAIN_ON_CLIENT (the client listener also enables PLAIN),
FAKE_KAFKA_ANY_PASSWORD (SCRAM accepts any password), FAKE_KAFKA_UNDER_REPLICATED (one replica out of the ISR).
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import random
import re
import sys
import tempfile
import time

CLIENT, INTERNAL = "kafka.kafka.svc.cluster.local:9092", "kafka-broker-headless.kafka.svc.cluster.local:9094"
QUOTAS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")


def die(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


def option(args: list[str], name: str, many: bool = False):
    values = [args[i + 1] for i, a in enumerate(args) if a == name and i + 1 < len(args)]
    return values if many else (values[0] if values else None)


CONFIG_FLAGS = ("--command-config", "--producer.config", "--consumer.config")
SUPER_USERS = ("kafka-admin", "inter_broker_user", "controller_user")


class Refused(Exception):
    """What the broker said, as the client's exception line."""


def sign_in(args: list[str], state: dict) -> str:
    """The signed-in user, or Refused with the client's exception."""
    server = option(args, "--bootstrap-server")
    properties = next((option(args, flag) for flag in CONFIG_FLAGS if option(args, flag)), None)
    text = pathlib.Path(properties).read_text() if properties else ""
    found = re.search(r"bootstrap.servers=(\S+)", text)
    server = server or (found.group(1) if found else None)  # the perf test takes it from its properties file
    mechanism = re.search(r"sasl.mechanism=(\S+)", text)
    user = re.search(r'username="([^"]*)"', text)
    password = re.search(r'password="([^"]*)"', text)
    if not (mechanism and user and password):
        raise Refused("org.apache.kafka.common.errors.SaslAuthenticationException: no credentials")
    mechanism, user, password = mechanism.group(1), user.group(1), password.group(1)
    if server == CLIENT:
        if mechanism == "PLAIN" and os.environ.get("FAKE_KAFKA_PLAIN_ON_CLIENT"):
            ok = state["plain"].get(user) == password
        elif mechanism != "SCRAM-SHA-512":  # the listener offers SCRAM only
            raise Refused(f"org.apache.kafka.common.errors.UnsupportedSaslMechanismException: Client SASL mechanism "
                          f"'{mechanism}' not enabled in the server, enabled mechanisms are [SCRAM-SHA-512]")
        else:
            ok = user in state["scram"] and (state["scram"][user] == password or bool(os.environ.get(
                "FAKE_KAFKA_ANY_PASSWORD")))
    elif server == INTERNAL:
        ok = mechanism == "PLAIN" and state["plain"].get(user) == password
    else:
        raise Refused(f"org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. "
                      f"Call: describeTopics (cannot reach {server})")
    if not ok and mechanism == "PLAIN":  # PlainSaslServer's own answer
        raise Refused("org.apache.kafka.common.errors.SaslAuthenticationException: Authentication failed: Invalid "
                      "username or password")
    if not ok:
        raise Refused(f"org.apache.kafka.common.errors.SaslAuthenticationException: Authentication failed during "
                      f"authentication due to invalid credentials with SASL mechanism {mechanism}")
    return user


def allowed(state: dict, user: str, resource_type: str, name: str, operation: str) -> bool:
    """StandardAuthorizer with allow.everyone.if.no.acl.found=false: super users, else an ALLOW ACL that matches."""
    if user in SUPER_USERS or os.environ.get("FAKE_KAFKA_NO_AUTHORIZER"):
        return True
    implied = {operation} | ({"READ", "WRITE", "DELETE", "ALTER"} if operation == "DESCRIBE" else set())
    for principal, rtype, pattern, acl_name, acl_operation in state["acls"]:
        if principal == f"User:{user}" and rtype == resource_type and acl_operation in implied and (
                acl_name in (name, "*") if pattern == "LITERAL" else name.startswith(acl_name)):
            return True
    return False


def log(level: str, message: str, logger: str) -> None:
    """A line as Kafka's tools-log4j2.yaml prints it on stderr."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    print(f"[{stamp}] {level} {message} ({logger})", file=sys.stderr)


def now_ms() -> int:
    return int(time.time() * 1000)


def configs(args: list[str], state: dict) -> None:
    entity_type, entity = option(args, "--entity-type"), option(args, "--entity-name")
    if "--describe" in args and entity_type == "users":
        for user in sorted(set(state["scram"]) | set(state["quotas"]) | set(state.get("scram_256", []))):
            if entity and user != entity:
                continue
            mechanisms = [m for m, users in (("SCRAM-SHA-256", state.get("scram_256", [])),
                                             ("SCRAM-SHA-512", state["scram"])) if user in users]
            if mechanisms:
                print(f"SCRAM credential configs for user-principal '{user}' are "
                      + ", ".join(f"{m}=iterations=4096" for m in mechanisms))
            if state["quotas"].get(user):
                quotas = ", ".join(f"{k}={float(v)}" for k, v in sorted(state["quotas"][user].items()))
                print(f"Quota configs for user-principal '{user}' are {quotas}")
    elif "--describe" in args and entity_type == "topics":
        topic = state["topics"].get(entity) or die(f"Topic '{entity}' does not exist")
        print(f"Dynamic configs for topic {entity} are:")
        for key, value in sorted(topic["configs"].items()):
            print(f"  {key}={value} sensitive=false synonyms={{DYNAMIC_TOPIC_CONFIG:{key}={value}}}")
    elif "--alter" in args and entity_type == "users":
        if option(args, "--add-config") and option(args, "--add-config-file"):
            die("Only one of --add-config or --add-config-file must be specified")
        for path in option(args, "--add-config-file", many=True):
            # a Java properties file: the value is taken as it is, with no [brackets] stripped
            key, _, value = pathlib.Path(path).read_text().strip().partition("=")
            scram = re.fullmatch(r"(?:iterations=(\d+),)?password=(.*)", value)
            if key != "SCRAM-SHA-512" or not scram or os.environ.get("FAKE_KAFKA_REJECT_SCRAM"):
                die(f"Invalid credential property {key}={value}")
            state["scram"][entity] = scram.group(2)
        for add in option(args, "--add-config", many=True):
            scram = re.fullmatch(r"SCRAM-SHA-512=\[iterations=(\d+),password=(.+)\]", add)
            if scram:
                state["scram"][entity] = scram.group(2)
                continue
            for pair in add.split(","):
                key, _, value = pair.partition("=")
                if key not in QUOTAS:
                    die(f"Invalid config(s): {key}")
                state["quotas"].setdefault(entity, {})[key] = value
        for delete in option(args, "--delete-config", many=True):
            for key in delete.split(","):
                if key.startswith("SCRAM-SHA-"):
                    held = state["scram"] if key == "SCRAM-SHA-512" else state.setdefault("scram_256", [])
                    if entity not in held:
                        die(f"Attempt to delete a user credential that does not exist: {entity} {key}")
                    held.pop(entity) if isinstance(held, dict) else held.remove(entity)
                elif key in state["quotas"].get(entity, {}):
                    del state["quotas"][entity][key]
                else:
                    die(f"Invalid config(s): {key} is not set for user {entity}")
    elif "--alter" in args and entity_type == "topics":
        topic = state["topics"].get(entity) or die(f"Topic '{entity}' does not exist")
        for add in option(args, "--add-config", many=True):
            for pair in add.split(","):
                key, _, value = pair.partition("=")
                topic["configs"][key] = value
        for delete in option(args, "--delete-config", many=True):
            for key in delete.split(","):
                topic["configs"].pop(key, None) if key in topic["configs"] else die(f"Invalid config: {key}")
    else:
        die(f"unsupported kafka-configs.sh call: {args}")


RESOURCE_FLAGS = {"--topic": "TOPIC", "--group": "GROUP", "--transactional-id": "TRANSACTIONAL_ID"}
OPERATIONS = {"Read": "READ", "Write": "WRITE", "Describe": "DESCRIBE", "DescribeConfigs": "DESCRIBE_CONFIGS",
              "Delete": "DELETE", "Alter": "ALTER", "AlterConfigs": "ALTER_CONFIGS", "Create": "CREATE"}


def acls(args: list[str], state: dict) -> None:
    if "--list" in args:
        by_resource: dict[tuple, list] = {}
        for principal, rtype, pattern, name, operation in state["acls"]:
            by_resource.setdefault((rtype, name, pattern), []).append((principal, operation))
        for (rtype, name, pattern), entries in sorted(by_resource.items()):
            print(f"Current ACLs for resource `ResourcePattern(resourceType={rtype}, name={name}, "
                  f"patternType={pattern})`: ")
            for principal, operation in entries:
                print(f" \t(principal={principal}, host=*, operation={operation}, permissionType=ALLOW)")
            print()
        return
    operation = OPERATIONS.get(option(args, "--operation")) or die(f"Invalid operation {option(args, '--operation')}")
    pattern = (option(args, "--resource-pattern-type") or "literal").upper()
    if "--cluster" in args:  # a flag without a value; the cluster resource is always named kafka-cluster
        entry = [option(args, "--allow-principal"), "CLUSTER", pattern, "kafka-cluster", operation]
    else:
        flag = next(f for f in RESOURCE_FLAGS if f in args)
        entry = [option(args, "--allow-principal"), RESOURCE_FLAGS[flag], pattern, option(args, flag), operation]
    if "--add" in args:
        if entry not in state["acls"]:
            state["acls"].append(entry)
    elif "--remove" in args:
        if "--force" not in args:
            die("Are you sure you want to remove ACLs? (y/n)")  # the real tool waits for an answer
        state["acls"] = [a for a in state["acls"] if a != entry]
    else:
        die(f"unsupported kafka-acls.sh call: {args}")


def matching(state: dict, pattern: str) -> list[str]:
    """--topic is a regular expression for describe, alter and delete (TopicCommand's IncludeList)."""
    return sorted(t for t in state["topics"] if re.fullmatch(pattern, t))


def topics(args: list[str], state: dict) -> None:
    name = option(args, "--topic")
    if "--list" in args:
        for topic in sorted(state["topics"]):
            if not ("--exclude-internal" in args and topic.startswith("__")):
                print(topic)
    elif "--describe" in args:
        for found in matching(state, name) or die(f"Error while executing topic command : Topic '{name}' does not "
                                                   "exist as expected"):
            topic = state["topics"][found]
            settings = ",".join(f"{k}={v}" for k, v in sorted(topic["configs"].items()))
            print(f"Topic: {found}\tTopicId: AAAAAAAAAAAAAAAAAAAAAA\tPartitionCount: {topic['partitions']}\t"
                  f"ReplicationFactor: {topic['rf']}\tConfigs: {settings}")
            replicas = ",".join(str(b) for b in range(topic["rf"]))
            isr = replicas if not os.environ.get("FAKE_KAFKA_UNDER_REPLICATED") else replicas.rsplit(",", 1)[0]
            for p in range(topic["partitions"]):
                print(f"\tTopic: {found}\tPartition: {p}\tLeader: 0\tReplicas: {replicas}\tIsr: {isr}\t"
                      "Elr: \tLastKnownElr: ")
    elif "--create" in args:
        if name in state["topics"]:
            die(f"Error while executing topic command : Topic '{name}' already exists.")
        configs_ = dict(c.split("=", 1) for c in option(args, "--config", many=True))
        state["topics"][name] = {"partitions": int(option(args, "--partitions")),
                                 "rf": int(option(args, "--replication-factor")), "configs": configs_}
    elif "--alter" in args:
        wanted = int(option(args, "--partitions"))
        for found in matching(state, name) or die(f"Topic '{name}' does not exist"):
            topic = state["topics"][found]
            if wanted <= topic["partitions"]:
                die(f"org.apache.kafka.common.errors.InvalidPartitionsException: Topic currently has "
                    f"{topic['partitions']} partitions, which is higher than the requested {wanted}.")
            topic["partitions"] = wanted
    elif "--delete" in args:
        for found in matching(state, name) or die(f"Topic '{name}' does not exist"):
            del state["topics"][found]
    else:
        die(f"unsupported kafka-topics.sh call: {args}")


def produce(user: str, state: dict, topic: str, values: list[str]) -> tuple[int, str | None]:
    """Append the records as an idempotent acks=all producer gets them acknowledged: (count, exception)."""
    if topic not in state["topics"]:
        return 0, f"org.apache.kafka.common.errors.TimeoutException: Topic {topic} not present in metadata after 30000 ms."
    if not allowed(state, user, "TOPIC", topic, "WRITE"):
        return 0, f"org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized to access topics: [{topic}]"
    if os.environ.get("FAKE_KAFKA_NOT_ENOUGH_REPLICAS"):
        return 0, ("org.apache.kafka.common.errors.NotEnoughReplicasException: Messages are rejected since there are "
                   "fewer in-sync replicas than required.")
    log_ = state.setdefault("records", {}).setdefault(topic, [])
    for value in values:
        if value == os.environ.get("FAKE_KAFKA_LOSE"):
            continue
        copies = 2 if value == os.environ.get("FAKE_KAFKA_DUPLICATE") else 1
        log_.extend({"ts": now_ms(), "value": value} for _ in range(copies))
    return len(values), None


def console_producer(args: list[str], state: dict) -> None:
    topic = option(args, "--topic")
    try:
        user = sign_in(args, state)
    except Refused as refused:
        log("ERROR", f"[Producer clientId=console-producer] Connection to node -1 ({CLIENT}) failed authentication "
                     f"due to: {str(refused).split(': ', 1)[1]}", "org.apache.kafka.clients.NetworkClient")
        error = str(refused)
    else:
        _, error = produce(user, state, topic, [line.rstrip("\n") for line in sys.stdin])
    if error:
        log("ERROR", f"Error when sending message to topic {topic} with key: null, value: 12 bytes with error:",
            "org.apache.kafka.clients.producer.internals.ErrorLoggingCallback")
        print(error, file=sys.stderr)


def perf_test(args: list[str], state: dict) -> None:
    count = int(option(args, "--num-records"))
    props = option(args, "--producer-props", many=True)
    assert "--payload-monotonic" in args and "acks=all" in props, args
    try:
        acknowledged, error = produce(sign_in(args, state), state, option(args, "--topic"),
                                      [str(i) for i in range(count)])
    except Refused as refused:
        acknowledged, error = 0, str(refused)
    if error:
        for _ in range(min(count, 3)):
            print(f"{error}\n\tat org.apache.kafka.tools.ProducerPerformance$PerfCallback.onCompletion", file=sys.stderr)
    latencies = sorted(random.randint(2, 40) for _ in range(acknowledged)) or [0]
    average = sum(latencies) / acknowledged if acknowledged else float("nan")
    pick = [latencies[int(q * len(latencies)) if q * len(latencies) < len(latencies) else -1] for q in (0.5, 0.95, 0.99, 0.999)]
    print(f"{acknowledged} records sent, {acknowledged * 10.0:.1f} records/sec (0.00 MB/sec), {average:.2f} ms avg latency, "
          f"{float(latencies[-1]):.2f} ms max latency, {pick[0]} ms 50th, {pick[1]} ms 95th, {pick[2]} ms 99th, "
          f"{pick[3]} ms 99.9th.")


def console_consumer(args: list[str], state: dict) -> None:
    """Reads from the end (a new group, auto.offset.reset=latest) and prints records as they arrive, until killed."""
    topic, group = option(args, "--topic"), option(args, "--group")
    user = sign_in(args, state)
    if not allowed(state, user, "TOPIC", topic, "READ"):
        die(f"org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized to access topics: [{topic}]")
    if not allowed(state, user, "GROUP", group, "READ"):
        die(f"org.apache.kafka.common.errors.GroupAuthorizationException: Not authorized to access group: {group}")
    seen = len(state.get("records", {}).get(topic, []))
    while True:
        time.sleep(0.05)
        records = read_state().get("records", {}).get(topic, [])
        for record in records[seen:]:
            print(f"CreateTime:{record['ts']}\t{record['value']}", flush=True)
        seen = max(seen, len(records))


def read_state() -> dict:
    return json.loads(pathlib.Path(os.environ["FAKE_KAFKA_STATE"]).read_text())


def write_state(state: dict) -> None:
    """Atomically: a consumer reads the file while producers write it."""
    path = pathlib.Path(os.environ["FAKE_KAFKA_STATE"])
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as f:
        json.dump(state, f)
    os.replace(f.name, path)


ADMIN_TOOLS = {"kafka-configs.sh": configs, "kafka-acls.sh": acls, "kafka-topics.sh": topics}
CLIENT_TOOLS = {"kafka-console-producer.sh": console_producer, "kafka-producer-perf-test.sh": perf_test,
                "kafka-console-consumer.sh": console_consumer}


def main() -> None:
    tool, args = os.path.basename(sys.argv[1]), sys.argv[2:]
    with open(os.environ["FAKE_KAFKA_LOG"], "a") as calls:
        calls.write(json.dumps([tool, *args]) + "\n")
    state = read_state()
    if tool in CLIENT_TOOLS:
        try:
            CLIENT_TOOLS[tool](args, state)
        except Refused as refused:
            die(str(refused))
    else:
        try:
            user = sign_in(args, state)
        except Refused as refused:
            die(str(refused))
        if tool == "kafka-topics.sh" and "--describe" in args and not allowed(state, user, "TOPIC", option(
                args, "--topic"), "DESCRIBE"):
            die("Error while executing topic command : Topic "
                f"'{option(args, '--topic')}' does not exist as expected")  # what an unauthorized describe shows
        ADMIN_TOOLS[tool](args, state)
    if tool != "kafka-console-consumer.sh":
        write_state(state)


if __name__ == "__main__":
    main()
