"""PyTorch eager peer for `segloss bench`: value + backward of the same losses on the CPU.

Started as `python3 torch_peer.py THREADS` (torch.set_num_threads(THREADS)).

Protocol (JSON lines): on start it prints one hello line, {"ok": true, "torch": version,
"threads": n} or {"ok": false, "why": "..."} when `import torch` fails, then answers each
request line on stdin with one reply line on stdout:

  {"op": "setup", "loss": "dice", "shape": [4, 512, 512, 1], "p": file, "g": file, "warmup": 2, "warmupS": 0.25}
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
    if name == "ssim":
        # tf.image.ssim's definition (max_val 1): 11x11 Gaussian sigma 1.5, valid window,
        # biased variances, each channel alone; 2-D only (as the tfjs peer).
        if ndim != 4:
            raise ValueError("the ssim peer is 2-D")
        c = g.shape[3]
        w1 = torch.exp(-((torch.arange(11, dtype=torch.float32) - 5) ** 2) / (2 * 1.5 * 1.5))
        w1 = w1 / w1.sum()
        k = (w1[:, None] * w1[None, :]).expand(c, 1, 11, 11).contiguous()
        gn = g.permute(0, 3, 1, 2)
        c1, c2 = 0.01 ** 2, 0.03 ** 2

        def win(x):
            return torch.nn.functional.conv2d(x, k, groups=c)

        mg = win(gn)
        vg = win(gn * gn) - mg * mg

        def f(p):
            pn = p.permute(0, 3, 1, 2)
            mp = win(pn)
            vp = win(pn * pn) - mp * mp
            cov = win(pn * gn) - mp * mg
            num = (2 * mp * mg + c1) * (2 * cov + c2)
            den = (mp * mp + mg * mg + c1) * (vp + vg + c2)
            return 1 - (num / den).mean()
        return f
    if name == "lovasz_hinge":
        # Berman et al., per image and class, on logits: relu(sorted hinge errors) . lovasz_grad(sorted truth).
        c = g.shape[-1]
        perm = (0, ndim - 1) + space

        def rows(t):
            return t.permute(*perm).reshape(g.shape[0] * c, -1)
        gr = rows(g)

        def f(x):
            e = 1 - rows(x) * (2 * gr - 1)
            es, order = torch.sort(e, dim=1, descending=True)
            gs = torch.gather(gr, 1, order)
            gts = gs.sum(1, keepdim=True)
            jac = 1 - (gts - gs.cumsum(1)) / (gts + (1 - gs).cumsum(1))
            w = torch.cat([jac[:, :1], jac[:, 1:] - jac[:, :-1]], 1)
            return (torch.relu(es) * w).sum(1).mean()
        return f
    if name == "hausdorff_dt":
        # Karimi & Salcudean: mean((p - g)^2 (d_p^2 + d_g^2)), d = edt(m) + edt(not m) of the masks at
        # 0.5 per (batch, class), recomputed per call without gradient (MONAI's HausdorffDTLoss, scipy's EDT).
        from scipy.ndimage import distance_transform_edt

        def dist(m):
            out = np.zeros(m.shape, dtype=np.float32)
            for b in range(m.shape[0]):
                for ch in range(m.shape[-1]):
                    x = m[b, ..., ch]
                    if x.any() and not x.all():
                        out[b, ..., ch] = distance_transform_edt(x) + distance_transform_edt(~x)
            return torch.from_numpy(out)
        dg = dist(g.numpy() > 0.5)

        def f(p):
            dp = dist(p.detach().numpy() > 0.5)
            return ((p - g) ** 2 * (dp ** 2 + dg ** 2)).mean()
        return f
    if name == "generalized_dice_softmax":
        # losses/generalized_dice.loss with activation=softmax (MONAI GeneralizedDiceLoss(softmax=True),
        # w_type square): w_c = 1/(sum g_c)^2 per sample, an absent class takes the largest finite weight.
        gs = g.sum(space)
        empty = gs == 0
        w_finite = torch.where(empty, torch.zeros_like(gs), 1 / torch.where(empty, torch.ones_like(gs), gs) ** 2)
        w = torch.where(empty, w_finite.max(-1, keepdim=True).values.expand_as(w_finite), w_finite)

        def f(x):
            p = torch.softmax(x, dim=-1)
            tp = (p * g).sum(space)
            vol = p.sum(space) + gs
            return (1 - (2 * (w * tp).sum(-1) + 1e-5) / ((w * vol).sum(-1) + 1e-5)).mean()
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
    # `warmup` calls, then more while the warm-up has taken under `warmupS` seconds (at most 200),
    # as the harness warms every contender.
    w0 = time.perf_counter()
    i = 0
    while i < req.get("warmup", 2) or (i < 200 and time.perf_counter() - w0 < req.get("warmupS", 0)):
        call()
        i += 1
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
