"""Time a OneNIP training step and inference against PyTorch doing the same work, on this machine, in one run.

Run by hand from the project root, after building the benchmarks
(cmake -B build-bench -DONENIP_BUILD_BENCHMARKS=ON && cmake --build build-bench --target bench_onenip bench_attention):

    OMP_WAIT_POLICY=PASSIVE python3 bench/compare_onenip_pytorch.py --bench-dir build-bench/bench

PyTorch runs the parity model that the C++ model is tested against (OneNIP with MobileNetV2
taps, C = 168; imported from ../shared) at batch 8 and 224 x 224; we run bench/bench_onenip.cpp,
which does the same work (its header lists the workloads). Attention: our fused kernel
(bench/bench_attention.cpp) against F.scaled_dot_product_attention with the same shapes, additive
neighbour mask and dropout, on packed [B, H, T, D] tensors and, at the model's shape, on the heads
of [B, T, H D] projections as the model passes them ("heads of"; the output's gradient too). Both
sides get the same thread count (--threads, default 2: torch.set_num_threads and OMP_NUM_THREADS)
and OMP_WAIT_POLICY=PASSIVE unless it is set, which is PyTorch at its best on a 2-core machine. Every
workload runs in a fresh process per side, so the peak resident memory (from wait4) is that
workload's own; the PyTorch figure includes the interpreter and torch itself (~0.3 GB), as a user
of it pays. Rounds alternate between the two sides and the best of each is kept, so other work on
the machine disturbs both alike; read the ratios, not the absolute times.

On a GPU (--device cuda, run by bench/gpu_check.sh when torch has CUDA): our bench_cuda_onenip
(the same source built for the GPU, in build-gpu/bench/cuda) against PyTorch eager on the same GPU,
the training step and inference workloads only (attention: bench/compare_attention_pytorch.py);
each side waits for the GPU to finish every call, and peak MB is still the host's.

Needs what bench/requirements.txt lists (python3 -m pip install -r bench/requirements.txt). Prints one
table: ours, PyTorch, ratio (below 1: we are faster), and on the CPU our GFLOP/s over the analytic
FLOPs with its share of the machine's large-GEMM rate (bench_gemm at 2048^3, timed each round).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "..", "shared", "reference", "pytorch")

# (our benchmark executable, its benchmark name, description); the PyTorch worker knows the same names
ATTN = "BM_attention{}/composite:0/bwd:{}/mask:{}/B:{}/H:{}/T:{}/D:{}"
WORKLOADS = [
    ("bench_onenip", "BM_train_step/model", "train step, model only (batch 8)"),
    ("bench_onenip", "BM_train_step/backbone", "train step + backbone on 24 images"),
    ("bench_onenip", "BM_infer/per_image_prompt/1", "inference, batch 1, own prompt"),
    ("bench_onenip", "BM_infer/per_image_prompt/8", "inference, batch 8, own prompts"),
    ("bench_onenip", "BM_infer/cached_prompt/1", "inference, batch 1, cached prompt"),
    ("bench_onenip", "BM_infer/cached_prompt/8", "inference, batch 8, cached prompt"),
    ("bench_attention", ATTN.format("", 0, 1, 16, 8, 196, 32), "attention fwd, B16 T196 D32, mask"),
    ("bench_attention", ATTN.format("", 1, 1, 16, 8, 196, 32), "attention fwd+bwd, B16 T196 D32, mask"),
    ("bench_attention", ATTN.format("", 1, 2, 16, 8, 196, 32), "  same + dropout 0.1 (training)"),
    ("bench_attention", ATTN.format("_strided", 0, 1, 16, 8, 196, 32), "  fwd, heads of [B, T, H D]"),
    ("bench_attention", ATTN.format("_strided", 1, 1, 16, 8, 196, 32), "  fwd+bwd, heads of [B, T, H D]"),
    ("bench_attention", ATTN.format("_strided", 1, 2, 16, 8, 196, 32), "  fwd+bwd+drop, heads of [B, T, H D]"),
    ("bench_attention", ATTN.format("", 1, 0, 32, 8, 400, 32), "attention fwd+bwd, B32 T400 D32"),
    ("bench_attention", ATTN.format("_long", 0, 0, 1, 8, 1024, 64), "attention fwd, B1 H8 T1024 D64"),
    ("bench_attention", ATTN.format("_long", 1, 0, 1, 8, 1024, 64), "attention fwd+bwd, B1 H8 T1024 D64"),
    ("bench_attention", ATTN.format("_long", 1, 0, 1, 8, 1024, 128), "attention fwd+bwd, B1 H8 T1024 D128"),
    ("bench_attention", ATTN.format("_long", 0, 0, 1, 2, 4096, 64), "attention fwd, B1 H2 T4096 D64"),
    ("bench_attention", ATTN.format("_long", 1, 0, 1, 2, 4096, 64), "attention fwd+bwd, B1 H2 T4096 D64"),
    ("bench_attention", ATTN.format("_long", 1, 0, 1, 2, 4096, 128), "attention fwd+bwd, B1 H2 T4096 D128"),
]


def peak_mb(cmd, env):
    """Run cmd with a fresh child and read its own ru_maxrss through os.wait4."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty stderr cannot block the child
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err.read().decode()}")
    return out.decode(), usage.ru_maxrss / 1024.0


def ours(bench_dir, exe, name, seconds, env):
    bench = os.path.join(bench_dir, exe)
    cmd = [bench, f"--benchmark_filter=^{name}(/[a-z_]+:[0-9.]+)*/real_time$", "--benchmark_format=json",
           f"--benchmark_min_time={seconds}"]
    out, mb = peak_mb(cmd, env)
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]
    if not runs:
        sys.exit(f"{bench}: no benchmark matched {name}")
    unit = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[runs[0]["time_unit"]]
    ms = runs[0]["real_time"] * unit
    gflop = runs[0].get("GFLOP", 0.0) * ms * 1e-3  # the counter is a rate: GFLOP per iteration
    return ms, mb, gflop


def gemm_rate(bench_dir, env):
    """The machine's large-GEMM rate (GFLOP/s) through our matmul: bench_gemm at 2048^3."""
    exe = os.path.join(bench_dir, "bench_gemm")
    if not os.path.exists(exe):
        return 0.0
    out, _ = peak_mb([exe, "--benchmark_filter=BM_matmul/2048/2048/2048", "--benchmark_format=json",
                      "--benchmark_min_time=2"], env)
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]
    return runs[0]["GFLOP"] if runs else 0.0


def theirs(name, seconds, threads, env, device="cpu"):
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", name, "--seconds", str(seconds),
           "--threads", str(threads), "--device", device]
    out, mb = peak_mb(cmd, env)
    return float(out.strip().splitlines()[-1]), mb, 0.0


# ---------------------------------------------------------------- the PyTorch side (child process)
def torch_worker(name, seconds, threads, device="cpu"):
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, REFERENCE)
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import onenip as ref  # noqa: E402
    from compare_backbone_pytorch import mobilenetv2_shapes, pattern_dict  # noqa: E402
    from mobilenetv2 import MobileNetV2  # noqa: E402

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    backbone = ref.Backbone.__new__(ref.Backbone)  # the reference neck on stand-in weights
    backbone.net = MobileNetV2({k: w.to(device) for k, w in pattern_dict(mobilenetv2_shapes()).items()})
    backbone.net.stages = MobileNetV2.stages[:5]
    B, S = 8, ref.S
    model = ref.OneNIP().to(device)
    torch.set_default_device(device)  # every tensor below is made there

    if name.startswith("BM_attention"):
        return time_attention(torch, ref, name, seconds)
    if name.startswith("BM_train_step"):
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
        x = torch.rand(3 * B, 3, S, S) * 2 - 1
        f_all = backbone(x)
        masks = torch.zeros(2 * B, 1, S, S)
        masks[B:, :, 40:100, 70:120] = 1
        with_backbone = name.endswith("/backbone")

        def work():
            f = backbone(x) if with_backbone else f_all
            rec, target, logits = model.forward_train(f[:B], f[B:2 * B], f[2 * B:])
            loss, _, _ = ref.onenip_loss(rec, target, logits, masks)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()
            return loss.item()
    else:
        model.eval()
        n = int(name.split("/")[-1])
        cached = "/cached_prompt/" in name
        query, prompt = torch.rand(n, 3, S, S) * 2 - 1, torch.rand(1 if cached else n, 3, S, S) * 2 - 1
        with torch.no_grad():
            p_cached = model.encode_prompt(backbone(prompt))

        @torch.no_grad()
        def work():
            if cached:
                fq, p_e = backbone(query), p_cached
            else:
                f = backbone(torch.cat([query, prompt], 0))
                fq, p_e = f[:n], model.encode_prompt(f[n:])
            s_rec, s_ref = model.forward_eval(fq, p_e)
            fused = 0.5 * s_rec + 0.5 * 0.5 * s_ref  # docs/onenip.md section 7, scale fixed
            return F.avg_pool2d(fused[:, None], 16, 1).flatten(1).max(1).values

    if device == "cuda":  # time the GPU's work, not the launches
        launch = work

        def work():
            r = launch()
            torch.cuda.synchronize()
            return r
    print(mean_ms(work, seconds))


def mean_ms(work, seconds):
    """Mean ms per call over at least `seconds` (and 3 calls), after one warm-up call, like Google Benchmark."""
    work()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t = time.perf_counter()
        work()
        times.append(time.perf_counter() - t)
    return sum(times) / len(times) * 1e3


def time_attention(torch, ref, name, seconds):
    """F.scaled_dot_product_attention on the same shapes, neighbour mask and dropout as ours."""
    import torch.nn.functional as F
    a = dict(kv.split(":") for kv in name.split("/")[1:])
    B, H, T, D, bwd, mask_kind = (int(a[k]) for k in ("B", "H", "T", "D", "bwd", "mask"))
    if name.startswith("BM_attention_strided"):
        # the heads of [B, T, H D] projections, as the model's, taken in the timed call so that the
        # gradients flow back through the views to [B, T, H D] leaves
        q, k, v, w = (torch.randn(B, T, H * D) for _ in range(4))

        def heads(x):
            return x.view(B, T, H, D).transpose(1, 2)
    else:
        q, k, v, w = (torch.randn(B, H, T, D) for _ in range(4))

        def heads(x):
            return x
    w = heads(w)
    side = round(T ** 0.5)
    mask = ref.neighbour_mask(side, side, side // 2) if mask_kind else None
    p = 0.1 if mask_kind == 2 else 0.0
    if bwd:
        for t in (q, k, v):
            t.requires_grad_()

        def work():
            F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask, dropout_p=p).backward(w)
            q.grad = k.grad = v.grad = None
    else:
        @torch.no_grad()
        def work():
            return F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask, dropout_p=p)
    print(mean_ms(work, seconds))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench-dir", default=os.path.join(ROOT, "build-bench", "bench"),
                    help="folder of the built bench_onenip and bench_attention")
    ap.add_argument("--baseline-dir", default="",
                    help="bench folder of another build (say, before a change), timed in the same rounds")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=8.0, help="per workload, side and round")
    ap.add_argument("--only", default="", help="run only workloads whose name contains this")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="cuda: bench_cuda_onenip (in --bench-dir, default build-gpu/bench/cuda) against PyTorch on the GPU")
    ap.add_argument("--torch-worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args.torch_worker, args.seconds, args.threads, args.device)
    if args.device == "cuda" and args.bench_dir == ap.get_default("bench_dir"):
        args.bench_dir = os.path.join(ROOT, "build-gpu", "bench", "cuda")

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    best = {}
    work = [w for w in WORKLOADS if args.only in w[1]]
    if args.device == "cuda":
        work = [("bench_cuda_onenip", name, what) for exe, name, what in work if exe == "bench_onenip"]
    rate = 0.0
    for _ in range(args.rounds):
        if args.device == "cpu":
            rate = max(rate, gemm_rate(args.bench_dir, env))
        for exe, name, _ in work:
            sides = [("ours", lambda: ours(args.bench_dir, exe, name, args.seconds, env)),
                     ("torch", lambda: theirs(name, args.seconds, args.threads, env, args.device))]
            if args.baseline_dir:
                sides.append(("base", lambda: ours(args.baseline_dir, exe, name, args.seconds, env)))
            for side, fn in sides:
                ms, mb, gflop = fn()
                old = best.get((name, side), (float("inf"), 0.0, 0.0))
                best[(name, side)] = (min(old[0], ms), max(old[1], mb), max(old[2], gflop))
    import torch
    print(f"OneNIP (MobileNetV2 taps, C 168, 224 x 224) on {args.device}, {args.threads} thread(s), OMP_WAIT_POLICY="
          f"{env['OMP_WAIT_POLICY']}, best of {args.rounds} rounds; torch {torch.__version__}")
    base_head = f"{'base ms':>10}{'ratio':>8}" if args.baseline_dir else ""
    print(f"{'workload':<36}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}{'GFLOP/s':>9}{'% GEMM':>8}{'ours MB':>10}"
          f"{'torch MB':>10}{'ratio':>8}" + base_head)
    for _, name, what in work:
        (o, om, gflop), (t, tm, _) = best[(name, "ours")], best[(name, "torch")]
        speed = f"{gflop / o * 1e3:>9.0f}" if gflop else f"{'':>9}"
        share = f"{100 * gflop / o * 1e3 / rate:>8.0f}" if gflop and rate else f"{'':>8}"
        base = ""
        if args.baseline_dir:
            b = best[(name, "base")][0]
            base = f"{b:>10.1f}{b / t:>8.2f}"
        print(f"{what:<36}{o:>10.1f}{t:>10.1f}{o / t:>8.2f}{speed}{share}{om:>10.0f}{tm:>10.0f}{om / tm:>8.2f}" + base)
    print("times per iteration (a training step, or a batch of images); peak MB = the process's peak RSS"
          + ("; base = --baseline-dir, its time over torch's" if args.baseline_dir else ""))
    if rate:
        print(f"GFLOP/s: ours, over the analytic FLOPs; % GEMM: of bench_gemm at 2048^3 here ({rate:.0f} GFLOP/s, "
              "best of the rounds)")


if __name__ == "__main__":
    main()
