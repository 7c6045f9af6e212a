#!/usr/bin/env python3
"""What a write costs DynamoDB Local itself: its JVM's CPU time per request, and the rate, for a
TransactWriteItems of 5, 4 and 3 items shaped like Provisio's creates (an imported user: the user
with its three index keys, the userName guard, the email holder set, the import key's guard, the
outbox event; a SCIM create is the same without the import key's guard) and for one
PutItem, on a table like Provisio's (three GSIs, all projected, its stream on). 16 requests in
flight; each size runs twice and the second (warm) pass is printed.

    scripts/stack.sh run "$PROVISIO_MOTO_BIN/python" scripts/ddb_local_cost.py [REQUESTS]

(boto3 comes with moto's environment; the stack exports AWS_ENDPOINT_URL_DYNAMODB.) The JVM's CPU
is read from /proc, so the client's own cost is not in it. The stack's storage is the one
`scripts/stack.sh` chose: in memory, or on disk with PROVISIO_DATA_DIR set (as `make dev`).
"""
import itertools
import os
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlparse

import boto3
from botocore.config import Config

HZ = os.sysconf("SC_CLK_TCK")
IN_FLIGHT = 16


def jvm_pid(port: int) -> int:
    out = subprocess.run(["pgrep", "-f", f"DynamoDBLocal.jar.*-port {port}"], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    if not pids:
        sys.exit(f"no DynamoDB Local JVM on port {port}")
    return pids[0]


def cpu_seconds(pid: int) -> float:
    stat = open(f"/proc/{pid}/stat").read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def s(value: str) -> dict:
    return {"S": value}


def create_table(client, name: str) -> None:
    attributes = ["pk", "sk"] + [f"gsi{i}{k}" for i in (1, 2, 3) for k in ("pk", "sk")]
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": f"GSI{i}",
                "KeySchema": [
                    {"AttributeName": f"gsi{i}pk", "KeyType": "HASH"},
                    {"AttributeName": f"gsi{i}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for i in (1, 2, 3)
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


counter = itertools.count()


def create_ops(table: str, items: int) -> list:
    i = next(counter)
    uid = uuid.uuid4().hex
    user = {
        "pk": s(f"USER#{uid}"), "sk": s("PROFILE"),
        "gsi1pk": s("USERS"), "gsi1sk": s(f"user{i}"),
        "gsi2pk": s(f"EMAIL#user{i}@example.com"), "gsi2sk": s(f"USER#{uid}"),
        "gsi3pk": s(f"EXT#app#{i}"), "gsi3sk": s(f"USER#{uid}"),
        "userName": s(f"user{i}"), "email": s(f"user{i}@example.com"), "givenName": s("Given"),
        "familyName": s("Family"), "active": {"BOOL": True}, "version": {"N": "1"},
        "attributes": {"M": {"department": s("eng")}},
    }
    new = "attribute_not_exists(pk)"
    ops = [
        {"Put": {"TableName": table, "Item": user, "ConditionExpression": new}},
        {"Put": {"TableName": table, "Item": {"pk": s(f"UNIQUE#USERNAME#user{i}"), "sk": s("UNIQUE"), "owner": s(uid)}, "ConditionExpression": new}},
        {"Update": {"TableName": table, "Key": {"pk": s(f"EMAILS#user{i}@example.com"), "sk": s("HOLDERS")},
                    "UpdateExpression": "ADD holders :h", "ExpressionAttributeValues": {":h": {"SS": [uid]}}}},
        {"Put": {"TableName": table, "Item": {"pk": s(f"OUTBOX#{i % 16:02d}"), "sk": s(f"2026-12-01T00:00:00Z#{uid}"),
                                              "id": s(uid), "kind": s("user_created"), "userId": s(uid), "ttl": {"N": "1796000000"}}}},
    ]
    # Five: an imported user (its import key's guard too); four: a SCIM create; three: no outbox.
    if items == 5:
        ops.insert(3, {"Put": {"TableName": table, "Item": {"pk": s(f"UNIQUE#IMPORTKEY#{i}"), "sk": s("UNIQUE"), "owner": s(uid)}, "ConditionExpression": new}})
    return ops[:items]


def measure(client, pid: int, table: str, items: int, requests: int) -> None:
    per_worker = requests // IN_FLIGHT
    failures = []

    def work():
        for _ in range(per_worker):
            ops = create_ops(table, items)
            try:
                if items == 1:
                    client.put_item(**ops[0]["Put"])
                else:
                    client.transact_write_items(TransactItems=ops)
            except Exception as e:  # noqa: BLE001 (counted and shown, not hidden)
                failures.append(e)

    for _ in range(2):
        failures.clear()
        workers = [threading.Thread(target=work) for _ in range(IN_FLIGHT)]
        cpu, started = cpu_seconds(pid), time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        seconds, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
    done = per_worker * IN_FLIGHT
    label = {5: "TransactWriteItems of 5 (import)", 4: "TransactWriteItems of 4 (SCIM)"}.get(
        items, "PutItem" if items == 1 else f"TransactWriteItems of {items}"
    )
    print(f"| {label:<34} | {done / seconds:>8.0f} | {1000 * cpu / done:>18.2f} | {len(failures):>8} |", flush=True)


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or sys.exit("AWS_ENDPOINT_URL_DYNAMODB is not set (run under scripts/stack.sh)")
    pid = jvm_pid(urlparse(endpoint).port)
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"), config=Config(max_pool_connections=2 * IN_FLIGHT))
    table = f"cost-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    storage = "on disk" if os.environ.get("PROVISIO_DATA_DIR") else "in memory"
    print(f"DynamoDB Local, table {storage}, {IN_FLIGHT} in flight, {requests} requests a pass (the warm pass):")
    print("| request                            | req/s    | JVM CPU ms/request | failures |")
    print("|------------------------------------|----------|--------------------|----------|")
    for items in (5, 4, 3, 1):
        measure(client, pid, table, items, requests)


if __name__ == "__main__":
    main()
