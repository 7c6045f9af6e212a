#!/usr/bin/env python3
"""Cold init of each packaged function: the time from spawning its `bootstrap` to its first poll of
the Lambda Runtime API (`GET /2018-06-01/runtime/invocation/next`), served here by a listener on
127.0.0.1 that answers nothing; the process is then stopped. Median and spread over N spawns.

    scripts/coldstart.py BUILD_DIR [N]      (BUILD_DIR: what `make package` / sam build wrote)

It is the Rust part of a Lambda cold start (configuration, clients, runtime set-up), without the
download and sandbox start that AWS adds and bills to nobody.
"""
import os
import socket
import statistics
import subprocess
import sys
import time


def first_poll(binary: str) -> float:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    port = listener.getsockname()[1]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "coldstart",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "coldstart",
        "AWS_LAMBDA_LOG_STREAM_NAME": "coldstart",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "coldstart",
        "AWS_SECRET_ACCESS_KEY": "coldstart",
        # Nothing listens here: a function that called AWS at init would show it as a slow start.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "_HANDLER": "bootstrap",
    }
    started = time.perf_counter()
    child = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn, _ = listener.accept()
        conn.settimeout(10)
        data = b""
        while b"\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        elapsed = time.perf_counter() - started
        if not data.startswith(b"GET /2018-06-01/runtime/invocation/next"):
            raise SystemExit(f"{binary}: unexpected first request {data[:80]!r}")
        conn.close()
        return elapsed * 1000
    finally:
        child.kill()
        child.wait()
        listener.close()


def main() -> None:
    build = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    print(f"| function | cold init median | min | max | binary |")
    print(f"|---|---|---|---|---|")
    for name in sorted(os.listdir(build)):
        binary = os.path.join(build, name, "bootstrap")
        if not name.endswith("Function") or not os.path.isfile(binary):
            continue
        first_poll(binary)  # the page cache warm, as on a Lambda host after the download
        times = [first_poll(binary) for _ in range(runs)]
        print(
            f"| {name[: -len('Function')]} | {statistics.median(times):.1f} ms | {min(times):.1f} ms"
            f" | {max(times):.1f} ms | {os.path.getsize(binary) / 1e6:.1f} MB |"
        )


if __name__ == "__main__":
    main()
