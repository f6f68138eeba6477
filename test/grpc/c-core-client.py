"""gRPC C-core client (Debian's python3-grpcio) driven by test/grpc/interop-c-core.test.ts.

Reads one JSON object on stdin (target and base64 request bytes encoded in
Node with the official protos), runs every scenario on channels of C-core, and
prints one JSON object of results (status names, base64 answer bytes) for the
Node side to decode with the official protos. Sends raw bytes through the
generic API: nothing generated, nothing fetched.
"""
import base64
import json
import sys
import time
import zlib

import grpc

CHECK = "/envoy.service.auth.v3.Authorization/Check"
HEALTH = "/grpc.health.v1.Health/Check"


def main():
    cfg = json.load(sys.stdin)
    allow = base64.b64decode(cfg["allow"])
    deny = base64.b64decode(cfg["deny"])
    out = {}
    opts = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(cfg["target"], options=opts) as ch:
        check = ch.unary_unary(CHECK)
        health = ch.unary_unary(HEALTH)

        def code(fn):
            try:
                fn()
                return "OK"
            except grpc.RpcError as e:
                return e.code().name

        out["allow"] = base64.b64encode(check(allow, timeout=5)).decode()
        out["deny"] = base64.b64encode(check(deny, timeout=5)).decode()

        # 2,000 calls, 100 in flight, one channel.
        pending, answers, failures = [], set(), 0
        for i in range(2000):
            pending.append(check.future(allow, timeout=10))
            if len(pending) >= 100:
                f = pending.pop(0)
                try:
                    answers.add(f.result())
                except grpc.RpcError:
                    failures += 1
        for f in pending:
            try:
                answers.add(f.result())
            except grpc.RpcError:
                failures += 1
        out["many"] = {"failures": failures, "distinct": len(answers), "answer": base64.b64encode(answers.pop()).decode() if answers else ""}

        # 1 ms deadlines: each call ends (OK or DEADLINE_EXCEEDED), the channel stays usable.
        codes = [code(lambda: check(allow, timeout=0.001)) for _ in range(50)]
        out["deadlines"] = sorted(set(codes))
        out["after_deadlines"] = code(lambda: check(allow, timeout=5))

        # Compressed requests.
        out["gzip"] = base64.b64encode(check(allow, timeout=5, compression=grpc.Compression.Gzip)).decode()
        out["deflate"] = base64.b64encode(check(allow, timeout=5, compression=grpc.Compression.Deflate)).decode()

        # Size limits: 4 MiB + 1 byte plain, and a compressed message inflating past 4 MiB; each followed by a good call.
        limits = []
        limits.append(code(lambda: check(b"\0" * (4 * 1024 * 1024 + 1), timeout=10)))
        limits.append(code(lambda: check(allow, timeout=5)))
        limits.append(code(lambda: check(b"\0" * (5 * 1024 * 1024), timeout=10, compression=grpc.Compression.Gzip)))
        limits.append(code(lambda: check(allow, timeout=5)))
        out["limits"] = limits

        # Errors, each followed by a good call on the same channel.
        errors = []
        errors.append(code(lambda: ch.unary_unary("/envoy.service.auth.v3.Authorization/Nope")(allow, timeout=5)))
        errors.append(code(lambda: check(allow, timeout=5)))
        errors.append(code(lambda: check(b"\xff\xff\xff", timeout=5)))
        errors.append(code(lambda: check(allow, timeout=5)))
        out["errors"] = errors

        out["health"] = base64.b64encode(health(b"", timeout=5)).decode()
        out["health_auth"] = base64.b64encode(health(b"\x0a\x23envoy.service.auth.v3.Authorization", timeout=5)).decode()
        out["health_unknown"] = code(lambda: health(b"\x0a\x04nope", timeout=5))

    # Keepalive: a PING every second on a channel without calls, then a call.
    ka = opts + [
        ("grpc.keepalive_time_ms", 1000),
        ("grpc.keepalive_timeout_ms", 2000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    with grpc.insecure_channel(cfg["target"], options=ka) as ch:
        check = ch.unary_unary(CHECK)
        first = code(lambda: check(allow, timeout=5))
        time.sleep(cfg.get("keepalive_s", 3))
        out["keepalive"] = [first, code(lambda: check(allow, timeout=5))]

    json.dump(out, sys.stdout)


def code(fn):
    try:
        fn()
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


if __name__ == "__main__":
    main()
