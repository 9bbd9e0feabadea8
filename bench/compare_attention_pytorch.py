"""PyTorch's scaled_dot_product_attention at the shapes of bench/cuda/bench_attention.cu, to
read beside it: forward and forward + backward, FP32 (TF32 off), TF32 and BF16, in ms and
TFLOP/s (4 B H T^2 D forward, 3.5 times that for forward + backward, as there).

    python3 bench/compare_attention_pytorch.py      (needs torch with CUDA; gpu_check.sh runs it)
"""
import sys

import torch
import torch.nn.functional as F


def neighbour_mask(side, n, device):
    """-inf where both grid distances are <= n // 2 (the token itself included), 0 elsewhere."""
    r = torch.arange(side * side, device=device)
    rows, cols = r // side, r % side
    near = ((rows[:, None] - rows[None, :]).abs() <= n // 2) & ((cols[:, None] - cols[None, :]).abs() <= n // 2)
    return torch.zeros(side * side, side * side, device=device).masked_fill(near, float("-inf"))


def time_ms(f):
    """Milliseconds per call after one warm-up call, repeated until 100 ms have passed."""
    f()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    iters, ms = 0, 0.0
    start.record()
    while ms < 100 and iters < 200:
        f(), f()
        iters += 2
        end.record()
        end.synchronize()
        ms = start.elapsed_time(end)
    return ms / iters


def bench(B, H, T, D, side):
    dev = "cuda"
    mask = neighbour_mask(side, 7, dev) if side else None
    p = 0.1 if side else 0.0
    flop = 4.0 * B * H * T * T * D
    shape = f"B {B} H {H} T {T} D {D}" + (" mask+dropout" if side else "")
    for name, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True), ("bf16", torch.bfloat16, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        q, k, v = (torch.rand(B, H, T, D, device=dev, dtype=dtype) * 2 - 1 for _ in range(3))
        m = mask.to(dtype) if mask is not None else None
        fwd = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=m, dropout_p=p))
        qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
        go = torch.rand_like(q)

        def fwd_bwd():
            F.scaled_dot_product_attention(qg, kg, vg, attn_mask=m, dropout_p=p).backward(go)

        fb = time_ms(fwd_bwd)
        print(f"{shape:<36} {name}  forward {fwd:9.3f} ms {flop / fwd * 1e-9:7.2f} TFLOP/s"
              f"  | fwd+bwd {fb:9.3f} ms {3.5 * flop / fb * 1e-9:7.2f} TFLOP/s", flush=True)


def main():
    if not torch.cuda.is_available():
        print("compare_attention_pytorch: torch has no CUDA device")
        return 2
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    for B in (8, 64):
        for side in (14, 16, 20):
            bench(B, 8, side * side, 32, side)
    for D in (64, 128):
        bench(8, 8, 1024, D, 0)
        bench(1, 8, 4096, D, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
