"""PyTorch CPU reference for fidlab's training benchmark (never a runtime dependency of fidlab).

usage: python3 train_reference.py SPEC_JSON
SPEC_JSON: {"threads": 2, "warmup": 2, "steps": 5,
            "unets": [{"name", "size", "ngf", "depth", "batch", "dropout": [i, ...], "skip"}],
            "inception": {"batch": 8, "warmup": 1, "reps": 3} | null}
A plain PyTorch build of the same layers as the tfjs nets (pix2pix U-Net: Conv k4 s2 p1,
BatchNorm, LeakyReLU 0.2 / ReLU, ConvTranspose k4 s2 p1, Dropout 0.5, concat skips, tanh),
one training step = forward + L1 loss + backward + Adam step. Prints one JSON line:
{"torch": version, "threads": n, "unets": {name: [step ms...]}, "unets_cpu": {name: [process CPU
ms per step, all threads...]}, "inception": [batch ms...], "inception_cpu": [...]}.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

spec = json.loads(sys.argv[1])
torch.set_num_threads(spec.get("threads", 2))
torch.manual_seed(0)


class UNet(nn.Module):
    """Index i = 0..depth-1 is the encoder level (fidlab's en{i+1}); ch(i) = ngf * min(2^i, 8)."""

    def __init__(self, ngf, depth, dropout, skip=True):
        super().__init__()
        ch = lambda i: ngf * min(2**i, 8)
        self.depth, self.skip = depth, skip
        self.down = nn.ModuleList()
        self.dbn = nn.ModuleList()
        for i in range(depth):
            self.down.append(nn.Conv2d(3 if i == 0 else ch(i - 1), ch(i), 4, 2, 1, bias=False))
            self.dbn.append(nn.BatchNorm2d(ch(i)) if 0 < i < depth - 1 else nn.Identity())
        self.up = nn.ModuleDict()
        self.ubn = nn.ModuleDict()
        self.drop = set(dropout)
        for i in range(depth - 1, -1, -1):
            cin = ch(i) if i == depth - 1 or not skip else 2 * ch(i)
            cout = 3 if i == 0 else ch(i - 1)
            self.up[str(i)] = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=(i == 0))
            self.ubn[str(i)] = nn.BatchNorm2d(cout) if i > 0 else nn.Identity()

    def forward(self, x):
        feats, h = [], x
        for i in range(self.depth):
            if i > 0:
                h = F.leaky_relu(h, 0.2)
            h = self.dbn[i](self.down[i](h))
            feats.append(h)
        for i in range(self.depth - 1, -1, -1):
            if i < self.depth - 1 and self.skip:
                h = torch.cat([h, feats[i]], 1)
            h = self.ubn[str(i)](self.up[str(i)](F.relu(h)))
            if i in self.drop:
                h = F.dropout(h, 0.5, self.training)
        return torch.tanh(h)


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "unets": {}, "unets_cpu": {}}
for u in spec.get("unets", []):
    net = UNet(u["ngf"], u["depth"], u.get("dropout", []), u.get("skip", True)).train()
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = torch.rand(u["batch"], 3, u["size"], u["size"]) * 2 - 1
    y = torch.rand(u["batch"], 3, u["size"], u["size"]) * 2 - 1
    times, cpu = [], []
    for k in range(spec["warmup"] + spec["steps"]):
        t, c = time.perf_counter(), time.process_time()
        opt.zero_grad()
        loss = F.l1_loss(net(x), y)
        loss.backward()
        opt.step()
        if k >= spec["warmup"]:
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
    out["unets"][u["name"]] = times
    out["unets_cpu"][u["name"]] = cpu

inc = spec.get("inception")
if inc:
    import torchvision

    net = torchvision.models.inception_v3(
        weights=None, aux_logits=False, init_weights=False, transform_input=False
    ).eval()
    x = torch.rand(inc["batch"], 3, 299, 299)
    times, cpu = [], []
    with torch.no_grad():
        warm = inc.get("warmup", 1)
        for k in range(warm + inc["reps"]):
            t, c = time.perf_counter(), time.process_time()
            net(x)
            if k >= warm:
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
    out["inception"] = times
    out["inception_cpu"] = cpu
print(json.dumps(out))
