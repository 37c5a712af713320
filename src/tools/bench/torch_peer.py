"""PyTorch eager peer for `segloss bench`: value + backward of the same losses on the CPU.

Started as `python3 torch_peer.py THREADS` (torch.set_num_threads(THREADS)).

Protocol (JSON lines): on start it prints one hello line, {"ok": true, "torch": version,
"threads": n} or {"ok": false, "why": "..."} when `import torch` fails, then answers each
request line on stdin with one reply line on stdout:

  {"op": "setup", "loss": "dice", "shape": [4, 512, 512, 1], "p": file, "g": file, "warmup": 2}
      (p, g: raw little-endian float32, nhwc)  ->  {"ok": true, "id": k, "firstMs": t, "value": v}
  {"op": "call", "id": k}                      ->  {"ok": true, "ms": t}
  {"op": "grad", "id": k, "gradOut": file}     ->  {"ok": true, "grad": wrote, "maxRssDeltaMB": m}
  {"op": "drop", "id": k}                      ->  {"ok": true}

The harness interleaves "call" requests with its other contenders, round by round; each
call is timed here (clear the leaf's grad, build the loss, loss.backward(), loss.item()),
so the pipe's round trip is not in the time. The formulas are those of losses/*.loss with
their defaults (see peers.ts).
"""

import json
import resource
import sys
import time


def hello_fail(why):
    print(json.dumps({"ok": False, "why": why}), flush=True)
    sys.exit(0)


try:
    import torch
except Exception as e:  # ImportError, or a broken install
    hello_fail(f"import torch failed ({type(e).__name__}: {e})")

try:
    import numpy as np
except Exception:
    np = None

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)


def loss_fn(name, g, ndim):
    space = tuple(range(1, ndim - 1))
    eps = 1e-7

    if name == "dice":

        def f(p):
            tp = (p * g).sum(space)
            score = (2 * tp + 1e-5) / (p.sum(space) + g.sum(space) + 1e-5)
            return (1 - score).mean()
        return f
    if name == "bce":
        def f(p):
            q = p.clamp(eps, 1 - eps)
            return (-(g * torch.log(q) + (1 - g) * torch.log(1 - q))).mean()
        return f
    if name == "focal":
        alpha, gamma = 0.25, 2.0

        def f(p):
            q = p.clamp(eps, 1 - eps)
            pos = alpha * (1 - q) ** gamma * g * -torch.log(q)
            neg = (1 - alpha) * q ** gamma * (1 - g) * -torch.log(1 - q)
            return (pos + neg).mean()
        return f
    if name == "tversky":
        alpha, beta, smooth = 0.5, 0.5, 1e-5

        def f(p):
            tp = (p * g).sum(space)
            fp = (p * (1 - g)).sum(space)
            fn = ((1 - p) * g).sum(space)
            ti = (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
            return (1 - ti).mean()
        return f
    raise ValueError(f"unknown loss {name}")


def read_f32(path, shape):
    with open(path, "rb") as fh:
        buf = bytearray(fh.read())
    return torch.frombuffer(buf, dtype=torch.float32).reshape(shape)


def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


JOBS = {}


def setup(req):
    shape = req["shape"]
    rss0 = maxrss_mb()
    g = read_f32(req["g"], shape)
    p = read_f32(req["p"], shape).clone().requires_grad_(True)
    f = loss_fn(req["loss"], g, len(shape))

    def call():
        p.grad = None
        loss = f(p)
        loss.backward()
        return loss.item()

    t0 = time.perf_counter()
    value = call()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(req.get("warmup", 2)):
        call()
    k = len(JOBS) + 1
    JOBS[k] = {"call": call, "p": p, "rss0": rss0}
    return {"ok": True, "id": k, "firstMs": first_ms, "value": value}


def handle(req):
    op = req.get("op")
    if op == "setup":
        return setup(req)
    j = JOBS.get(req.get("id"))
    if j is None:
        return {"ok": False, "why": f"no job {req.get('id')}"}
    if op == "call":
        t0 = time.perf_counter()
        j["call"]()
        return {"ok": True, "ms": (time.perf_counter() - t0) * 1e3}
    if op == "grad":
        wrote = False
        if np is not None and req.get("gradOut"):
            j["p"].grad.detach().contiguous().numpy().astype("<f4").tofile(req["gradOut"])
            wrote = True
        return {"ok": True, "grad": wrote, "maxRssDeltaMB": maxrss_mb() - j["rss0"]}
    if op == "drop":
        del JOBS[req["id"]]
        return {"ok": True}
    return {"ok": False, "why": f"unknown op {op}"}


def main():
    print(json.dumps({"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = handle(json.loads(line))
        except Exception as e:
            reply = {"ok": False, "why": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
