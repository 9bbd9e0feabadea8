"""Convert the EfficientNet-b4 ImageNet weights of efficientnet_pytorch (a PyTorch .pth) to safetensors.

The reference OneNIP code uses lukemelas/EfficientNet-PyTorch's released b4 weights. Download
them yourself (this script fetches nothing):

    https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b4-6ed6700e.pth

then convert (needs torch and safetensors: pip install torch safetensors):

    python3 examples/convert_efficientnet_weights.py efficientnet-b4-6ed6700e.pth efficientnet-b4.safetensors

The output keeps efficientnet_pytorch's tensor names (`_conv_stem.weight`, `_blocks.N._expand_conv.weight`,
...) as float32, which onenip::models::EfficientNet<T>::from_file and
make_feature_extractor("efficientnet-b4", path) read. BN `num_batches_tracked` counters (integers
the frozen network never uses) are dropped. The file's name carries the first 8 hex digits of its
SHA-256 (torch.hub's convention); a mismatch is reported. With --check and efficientnet_pytorch
installed, the names and shapes are compared with efficientnet_pytorch's own b4.
"""
import argparse
import hashlib
import os
import re
import sys

import torch


def sha256_prefix(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:8]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pth", help="efficientnet-b4-6ed6700e.pth")
    ap.add_argument("out", help="output .safetensors")
    ap.add_argument("--check", action="store_true", help="compare names and shapes with efficientnet_pytorch's b4")
    args = ap.parse_args()
    try:
        from safetensors.torch import save_file
    except ImportError:
        sys.exit("convert_efficientnet_weights: the safetensors package is needed (pip install safetensors)")

    m = re.search(r"-([0-9a-f]{8})\.pth$", os.path.basename(args.pth))
    if m:
        got = sha256_prefix(args.pth)
        if got != m.group(1):
            sys.exit(f"convert_efficientnet_weights: {args.pth}: SHA-256 starts with {got}, the name says "
                     f"{m.group(1)} (truncated or different download?)")

    sd = torch.load(args.pth, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    out = {k: v.detach().to(torch.float32).contiguous() for k, v in sd.items()
           if not k.endswith("num_batches_tracked")}
    if not any(k.startswith("_blocks.31.") for k in out) or "_conv_stem.weight" not in out:
        sys.exit(f"convert_efficientnet_weights: {args.pth} does not look like efficientnet_pytorch's b4 "
                 f"(no _conv_stem.weight or _blocks.31.*)")

    if args.check:
        from efficientnet_pytorch import EfficientNet
        want = {k: tuple(v.shape) for k, v in EfficientNet.from_name("efficientnet-b4").state_dict().items()
                if not k.endswith("num_batches_tracked")}
        got = {k: tuple(v.shape) for k, v in out.items()}
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        wrong = [k for k in want if k in got and want[k] != got[k]]
        if missing or extra or wrong:
            sys.exit(f"convert_efficientnet_weights: names differ from efficientnet_pytorch's b4: missing {missing[:5]}, "
                     f"unexpected {extra[:5]}, wrong shape {wrong[:5]}")

    save_file(out, args.out, metadata={"arch": "efficientnet-b4", "naming": "efficientnet_pytorch",
                                       "source": os.path.basename(args.pth)})
    n = sum(v.numel() for v in out.values())
    print(f"wrote {args.out}: {len(out)} tensors, {n} values")


if __name__ == "__main__":
    main()
