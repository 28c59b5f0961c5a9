"""A stand-in for Kafka 4.0's kafka-configs.sh, kafka-acls.sh and kafka-topics.sh, for the reconcile script's tests.

It keeps the cluster's state in a JSON file ($FAKE_KAFKA_STATE), appends every call to $FAKE_KAFKA_LOG, checks
the sign-in the way the brokers do (SCRAM-SHA-512 on the client listener against the stored credentials,
PLAIN on the inter-broker listener against the static JAAS users) and prints what the real tools print.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import sys

CLIENT, INTERNAL = "kafka.kafka.svc.cluster.local:9092", "kafka-broker-headless.kafka.svc.cluster.local:9094"
QUOTAS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")


def die(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


def option(args: list[str], name: str, many: bool = False):
    values = [args[i + 1] for i, a in enumerate(args) if a == name and i + 1 < len(args)]
    return values if many else (values[0] if values else None)


def sign_in(args: list[str], state: dict) -> None:
    server, properties = option(args, "--bootstrap-server"), option(args, "--command-config")
    text = pathlib.Path(properties).read_text() if properties else ""
    mechanism = re.search(r"sasl.mechanism=(\S+)", text)
    user = re.search(r'username="([^"]*)"', text)
    password = re.search(r'password="([^"]*)"', text)
    if not (mechanism and user and password):
        die("org.apache.kafka.common.errors.SaslAuthenticationException: no credentials")
    mechanism, user, password = mechanism.group(1), user.group(1), password.group(1)
    if server == CLIENT:
        ok = mechanism == "SCRAM-SHA-512" and state["scram"].get(user) == password  # the listener offers SCRAM only
    elif server == INTERNAL:
        ok = mechanism == "PLAIN" and state["plain"].get(user) == password
    else:
        die(f"org.apache.kafka.common.errors.TimeoutException: cannot reach {server}")
    if not ok:
        die(f"org.apache.kafka.common.errors.SaslAuthenticationException: Authentication failed during "
            f"authentication due to invalid credentials with SASL mechanism {mechanism}")


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
    flag = next(f for f in RESOURCE_FLAGS if f in args)
    operation = OPERATIONS.get(option(args, "--operation")) or die(f"Invalid operation {option(args, '--operation')}")
    pattern = (option(args, "--resource-pattern-type") or "literal").upper()
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
            for p in range(topic["partitions"]):
                print(f"\tTopic: {found}\tPartition: {p}\tLeader: 0\tReplicas: 0,1,2\tIsr: 0,1,2")
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


def main() -> None:
    tool, args = os.path.basename(sys.argv[1]), sys.argv[2:]
    with open(os.environ["FAKE_KAFKA_LOG"], "a") as log:
        log.write(json.dumps([tool, *args]) + "\n")
    with open(os.environ["FAKE_KAFKA_STATE"]) as f:
        state = json.load(f)
    sign_in(args, state)
    {"kafka-configs.sh": configs, "kafka-acls.sh": acls, "kafka-topics.sh": topics}[tool](args, state)
    with open(os.environ["FAKE_KAFKA_STATE"], "w") as f:
        json.dump(state, f)


if __name__ == "__main__":
    main()
