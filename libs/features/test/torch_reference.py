"""PyTorch reference for fidlab's feature extractors (tests and benchmark only, never at run time).

Builds pytorch-fid's FID InceptionV3 (torchvision layout, FIDInceptionA/C/E blocks) and VGG-Face
(vgg_face_dag layout) with random weights, saves the state_dict the way the published files are
saved, and writes the features of the given images, one .npy per tap.

  python3 torch_reference.py weights --arch inception|vggface --out W.pth [--seed S] [--legacy]
  python3 torch_reference.py features --arch A --weights W.pth --out DIR IMG...
  python3 torch_reference.py bench --arch A --weights W.pth --batch 16 --iters N
  python3 torch_reference.py fid A.npy B.npy     (float64 FID, printed as JSON)
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image

# ---------------------------------------------------------------- InceptionV3 (pytorch-fid) --
# The block replacements follow pytorch-fid's inception.py (FIDInceptionA/C/E_1/E_2): average
# pools exclude padding from the count; the last E block max-pools in its pool branch.


class FIDInceptionA(torchvision.models.inception.InceptionA):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
        return torch.cat([b1, b5, bd, bp], 1)


class FIDInceptionC(torchvision.models.inception.InceptionC):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for m in [self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                  self.branch7x7dbl_4, self.branch7x7dbl_5]:
            bd = m(bd)
        bp = self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
        return torch.cat([b1, b7, bd, bp], 1)


class FIDInceptionE(torchvision.models.inception.InceptionE):
    def __init__(self, in_channels, max_pool):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.max_pool:
            p = F.max_pool2d(x, 3, 1, 1)
        else:
            p = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return torch.cat([b1, b3, bd, self.branch_pool(p)], 1)


def fid_inception():
    net = torchvision.models.inception_v3(
        weights=None, num_classes=1008, aux_logits=False, init_weights=False
    )
    net.Mixed_5b = FIDInceptionA(192, 32)
    net.Mixed_5c = FIDInceptionA(256, 64)
    net.Mixed_5d = FIDInceptionA(288, 64)
    net.Mixed_6b = FIDInceptionC(768, 128)
    net.Mixed_6c = FIDInceptionC(768, 160)
    net.Mixed_6d = FIDInceptionC(768, 160)
    net.Mixed_6e = FIDInceptionC(768, 192)
    net.Mixed_7b = FIDInceptionE(1280, max_pool=False)
    net.Mixed_7c = FIDInceptionE(2048, max_pool=True)
    return net


def inception_taps(net, x):
    """x: N x 3 x H x W in [0, 1]. pytorch-fid's blocks 0..3, each tap pooled to 1 x 1."""
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    x = 2 * x - 1
    x = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(x)))
    x = F.max_pool2d(x, 3, 2)
    t64 = x
    x = F.max_pool2d(net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x)), 3, 2)
    t192 = x
    for m in [net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
              net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e]:
        x = m(x)
    t768 = x
    x = net.Mixed_7c(net.Mixed_7b(net.Mixed_7a(x)))
    pool = lambda t: F.adaptive_avg_pool2d(t, (1, 1)).flatten(1)
    return {"64": pool(t64), "192": pool(t192), "768": pool(t768), "2048": pool(x)}


# ---------------------------------------------------------------------------- VGG-Face ------

VGG_BLOCKS = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
VGG_MEAN = [129.1863, 104.7624, 93.5940]


class VggFace(nn.Module):
    """The layout of vgg_face_dag.pth (keys conv1_1.weight ... fc8.bias)."""

    def __init__(self):
        super().__init__()
        c = 3
        for b, widths in enumerate(VGG_BLOCKS):
            for i, w in enumerate(widths):
                setattr(self, f"conv{b + 1}_{i + 1}", nn.Conv2d(c, w, 3, 1, 1))
                c = w
        self.fc6 = nn.Linear(512 * 7 * 7, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, 2622)


def vggface_taps(net, x):
    x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
    x = x * 255 - torch.tensor(VGG_MEAN).view(1, 3, 1, 1)
    out = {}
    for b, widths in enumerate(VGG_BLOCKS):
        for i in range(len(widths)):
            x = getattr(net, f"conv{b + 1}_{i + 1}")(x)
            if b == 4 and i == 2:
                out["conv5_3"] = x.flatten(1)
            x = F.relu(x)
        x = F.max_pool2d(x, 2, 2)
    out["pool5"] = x.flatten(1)
    out["pool5-avg"] = x.mean((2, 3))
    x = net.fc6(x.flatten(1))
    out["fc6"] = x
    x = F.relu(x)
    out["relu6"] = x
    x = net.fc7(x)
    out["fc7"] = x
    out["relu7"] = F.relu(x)
    return out


# ------------------------------------------------------------------------------ common ------

ARCHS = {"inception": (fid_inception, inception_taps), "vggface": (VggFace, vggface_taps)}


def random_weights(arch, seed, calib_images=4):
    """Random weights with non-trivial BatchNorm statistics: running stats are measured on random
    images (so activations stay O(1) through the deep net), then gamma/beta are randomised."""
    torch.manual_seed(seed)
    build, taps = ARCHS[arch]
    net = build()
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -0.1, 0.1)
    if arch == "inception":
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None  # cumulative average over the calibration pass
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -0.2, 0.2)
        net.train()
        with torch.no_grad():
            taps(net, torch.rand(calib_images, 3, 128, 128))
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                # Stats off by a few per cent so the folded affine is not the identity.
                m.running_mean.mul_(1 + 0.1 * torch.randn_like(m.running_mean))
                m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
    net.eval()
    return net


def save_safetensors(sd, path):
    """A minimal .safetensors writer (the safetensors package is not in Debian's torch)."""
    header, chunks, off = {}, [], 0
    for k, v in sd.items():
        b = v.detach().contiguous().float().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in chunks:
            f.write(b)


def load_images(paths):
    return [torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255.0)
            .permute(2, 0, 1) for p in paths]


def fid_float64(x1, x2):
    """Frechet distance in float64 without sqrtm: with A, B the centred features over
    sqrt(n - 1), tr sqrt(S1 S2) is the nuclear norm of A B^T, exact also when n < d."""
    x1 = x1.astype(np.float64)
    x2 = x2.astype(np.float64)
    mu1, mu2 = x1.mean(0), x2.mean(0)
    a = (x1 - mu1) / np.sqrt(len(x1) - 1)
    b = (x2 - mu2) / np.sqrt(len(x2) - 1)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(((mu1 - mu2) ** 2).sum() + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["weights", "features", "bench", "count", "fid"])
    ap.add_argument("--arch", choices=list(ARCHS))
    ap.add_argument("--out")
    ap.add_argument("--weights")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--legacy", action="store_true", help="torch < 1.6 (non-zip) file format")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("images", nargs="*")
    a = ap.parse_intermixed_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.cmd == "fid":
        print(json.dumps({"fid": fid_float64(np.load(a.images[0]), np.load(a.images[1]))}))
        return
    build, taps = ARCHS[a.arch]

    if a.cmd == "count":
        print(sum(p.numel() for p in build().parameters()))
        return
    if a.cmd == "weights":
        net = random_weights(a.arch, a.seed)
        sd = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
        if a.out.endswith(".safetensors"):
            save_safetensors(sd, a.out)
        else:
            torch.save(sd, a.out, _use_new_zipfile_serialization=not a.legacy)
        return

    net = build()
    net.load_state_dict(torch.load(a.weights), strict=False)  # no num_batches_tracked
    net.eval()
    torch.set_grad_enabled(False)
    if a.cmd == "features":
        os.makedirs(a.out, exist_ok=True)
        rows = [taps(net, img[None]) for img in load_images(a.images)]
        for k in rows[0]:
            feats = torch.cat([r[k] for r in rows]).numpy().astype(np.float32)
            np.save(os.path.join(a.out, f"{k}.npy"), feats)
        return
    # bench: images/s at the given batch size after one warm-up batch, the best of `iters`
    # timed batches (the machine is shared: the fastest batch is the least disturbed one).
    x = torch.rand(a.batch, 3, 299 if a.arch == "inception" else 224,
                   299 if a.arch == "inception" else 224)
    taps(net, x)
    best = float("inf")
    for _ in range(a.iters):
        t0 = time.perf_counter()
        taps(net, x)
        best = min(best, time.perf_counter() - t0)
    json.dump({"images_per_s": a.batch / best, "threads": torch.get_num_threads(),
               "torch": torch.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
