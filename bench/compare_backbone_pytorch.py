"""Time the frozen backbones' features() against PyTorch doing the same work, on this machine, in one run.

Run by hand from the project root, after building the benchmarks
(cmake -B build-bench -DONENIP_BUILD_BENCHMARKS=ON && cmake --build build-bench --target bench_backbone):

    OMP_WAIT_POLICY=PASSIVE python3 bench/compare_backbone_pytorch.py --bench build-bench/bench/bench_backbone

Needs torch, numpy, efficientnet_pytorch and the PyTorch MobileNetV2 that ../shared holds. Both sides
use the same thread count (--threads, default 2: torch.set_num_threads and OMP_NUM_THREADS), no
autograd, the same pattern weights and 224 x 224 inputs, and compute the same thing: the taps,
each resized to 14 x 14 (bilinear, align_corners=True), concatenated. PyTorch runs twice: as the
reference code is written (BN as a separate op) and with BN folded into the convolutions as we do.
Rounds alternate between the two sides and the best time of each is kept, so a machine shared
with other work disturbs both alike (still, read the ratios, not the absolute times).
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from efficientnet_pytorch import EfficientNet
from torch.nn.utils.fusion import fuse_conv_bn_eval

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "reference", "pytorch"))
from pattern import pattern  # noqa: E402
from mobilenetv2 import MobileNetV2  # noqa: E402


def pattern_dict(shapes):
    return {k: torch.from_numpy(pattern(k, list(s))) for k, s in shapes.items()}


# ---- MobileNetV2: the reference implementation, stopped after stage 4 ----
def mobilenetv2_shapes():
    shapes = {"conv_stem.weight": (32, 3, 3, 3), "conv_head.weight": (1280, 320, 1, 1),
              "classifier.weight": (1001, 1280), "classifier.bias": (1001,)}
    bn = lambda p, c: shapes.update({f"{p}.{n}": (c,) for n in ("weight", "bias", "running_mean", "running_var")})
    bn("bn1", 32)
    bn("bn2", 1280)
    cin = 32
    for si, (n, _, c, e) in enumerate(MobileNetV2.stages):
        for j in range(n):
            p, mid = f"blocks.{si}.{j}.", cin * e
            if si == 0:
                shapes[p + "conv_dw.weight"], shapes[p + "conv_pw.weight"] = (cin, 1, 3, 3), (c, cin, 1, 1)
                bn(p + "bn1", cin), bn(p + "bn2", c)
            else:
                shapes[p + "conv_pw.weight"], shapes[p + "conv_dw.weight"] = (mid, cin, 1, 1), (mid, 1, 3, 3)
                shapes[p + "conv_pwl.weight"] = (c, mid, 1, 1)
                bn(p + "bn1", mid), bn(p + "bn2", mid), bn(p + "bn3", c)
            cin = c
    return shapes


class FoldedMobileNetV2(MobileNetV2):
    """The reference network with every BN folded into its conv (weight and bias)."""

    def __init__(self, w):
        super().__init__(w)
        self.folded = {}
        for k in w:
            if k.endswith(".running_var"):
                p = k[: -len(".running_var")]
                self.folded[p] = (w[p + ".weight"] / torch.sqrt(w[k] + 1e-5), w[p + ".bias"], w[p + ".running_mean"])

    def cbr(self, x, conv, bn, stride, groups=1, act=True):
        from mobilenetv2 import same_pad
        scale, beta, mean = self.folded[bn]
        k = self.w[conv + ".weight"]
        x = F.conv2d(same_pad(x, k.shape[-1], stride), k * scale.view(-1, 1, 1, 1), beta - mean * scale, stride, 0, 1,
                     groups)
        return F.relu6(x) if act else x


def mobilenetv2_taps(net):
    net.stages = MobileNetV2.stages[:5]
    return lambda x: [f for i, f in enumerate(net.features(x)) if i in (0, 1, 2, 4)]


# ---- EfficientNet-b4: efficientnet_pytorch, stem + blocks 0..21 ----
def efficientnet_b4(fold):
    m = EfficientNet.from_name("efficientnet-b4").eval()
    sd = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    m.load_state_dict(pattern_dict({k: v.shape for k, v in sd.items()}), strict=False)
    if fold:
        m._conv_stem, m._bn0 = fuse_conv_bn_eval(m._conv_stem, m._bn0), torch.nn.Identity()
        for b in m._blocks:
            for conv, bn in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")):
                if hasattr(b, conv):
                    setattr(b, conv, fuse_conv_bn_eval(getattr(b, conv), getattr(b, bn)))
                    setattr(b, bn, torch.nn.Identity())

    def taps(x):
        x = m._swish(m._bn0(m._conv_stem(x)))
        out = []
        for i in range(22):
            x = m._blocks[i](x)
            if i in (1, 5, 9, 21):
                out.append(x)
        return out
    return taps


def features(taps):
    return lambda x: torch.cat([F.interpolate(t, size=(14, 14), mode="bilinear", align_corners=True)
                                for t in taps(x)], 1)


def time_torch(fn, n, seconds):
    x = torch.from_numpy(pattern("input.bench", [n, 3, 224, 224]))
    best = float("inf")
    with torch.no_grad():
        fn(x)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            t = time.perf_counter()
            fn(x)
            best = min(best, time.perf_counter() - t)
    return best * 1e3


def time_ours(bench, threads, seconds):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    out = subprocess.run([bench, "--benchmark_format=json", "--benchmark_repetitions=3",
                          f"--benchmark_min_time={seconds / 6:.2f}"], env=env, check=True,
                         capture_output=True, text=True).stdout
    best = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        _, name, n = b["run_name"].split("/")[:3]
        unit = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
        key = (name, int(n))
        best[key] = min(best.get(key, float("inf")), b["real_time"] * unit)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default=os.path.join(ROOT, "build-bench", "bench", "bench_backbone"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0, help="per configuration and round")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    nets = {"mobilenetv2": {"reference": features(mobilenetv2_taps(MobileNetV2(pattern_dict(mobilenetv2_shapes())))),
                            "folded": features(mobilenetv2_taps(FoldedMobileNetV2(pattern_dict(mobilenetv2_shapes()))))},
            "efficientnet-b4": {"reference": features(efficientnet_b4(False)),
                                "folded": features(efficientnet_b4(True))}}
    ours, theirs = {}, {}
    for _ in range(args.rounds):
        for k, v in time_ours(args.bench, args.threads, args.seconds).items():
            ours[k] = min(ours.get(k, float("inf")), v)
        for name, variants in nets.items():
            for n in (1, 8):
                for variant, fn in variants.items():
                    key = (name, n, variant)
                    theirs[key] = min(theirs.get(key, float("inf")), time_torch(fn, n, args.seconds / 2))
    print(f"features() at 224 x 224, {args.threads} thread(s), best of {args.rounds} rounds; torch {torch.__version__}")
    print(f"{'backbone':<16}{'batch':>6}{'ours ms':>10}{'torch ms':>10}{'torch ms':>10}{'ratio':>8}")
    print(f"{'':<16}{'':>6}{'':>10}{'(ref)':>10}{'(folded)':>10}{'':>8}")
    for name in nets:
        for n in (1, 8):
            o, r, f = ours[(name, n)], theirs[(name, n, "reference")], theirs[(name, n, "folded")]
            print(f"{name:<16}{n:>6}{o:>10.1f}{r:>10.1f}{f:>10.1f}{o / min(r, f):>8.2f}")
    print("ratio = ours / the faster PyTorch variant (below 1: we are faster)")


if __name__ == "__main__":
    main()
