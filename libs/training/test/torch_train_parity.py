"""PyTorch reference for pix2pix training steps (run by torchTrainParity.test.ts).

Pix2PixModel.optimize_parameters (junyanz/pytorch-CycleGAN-and-pix2pix, models/pix2pix_model.py)
written out with the networks of torch_parity.py: fake = G(A); D step on
0.5 (GAN(D(A, fake.detach()), 0) + GAN(D(A, B), 1)); G step on GAN(D(A, fake), 1) + lambda L1.
Adam(lr, betas=(beta1, 0.999)) for both. Usage: torch_train_parity.py IN.npz OUT.npz.
IN: fidlab's initial weights ('unet32/...', 'd32/...'), batches 'a<k>', 'b<k>', scalars 'lr',
'beta1', 'lambda_l1', 'lsgan'. OUT: the weights after the steps and each step's losses.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_parity import load_d, load_unet, nlayer_d, unet  # noqa: E402


def main():
    src = np.load(sys.argv[1])
    nets = {}
    for key in src.files:
        if '/' in key:
            net, param = key.split('/', 1)
            nets.setdefault(net, {})[param] = src[key].astype(np.float32)
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.astype(np.float32).transpose(0, 3, 1, 2)))
    lr, beta1, lam = float(src['lr'][0]), float(src['beta1'][0]), float(src['lambda_l1'][0])
    lsgan = float(src['lsgan'][0]) > 0
    g, levels = unet(5, 4, True)
    load_unet(nets['unet32'], levels, 5)
    d = nlayer_d(6, 4)
    load_d(nets['d32'], d)
    g.train()
    d.train()
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(beta1, 0.999))
    crit = nn.MSELoss() if lsgan else nn.BCEWithLogitsLoss()
    gan = lambda pred, real: crit(pred, torch.full_like(pred, 1.0 if real else 0.0))
    l1 = nn.L1Loss()
    out = {}
    k = 0
    while f'a{k}' in src.files:
        a, b = nchw(src[f'a{k}']), nchw(src[f'b{k}'])
        fake = g(a)
        for p in d.parameters():
            p.requires_grad = True
        opt_d.zero_grad()
        loss_d_fake = gan(d(torch.cat((a, fake.detach()), 1)), False)
        loss_d_real = gan(d(torch.cat((a, b), 1)), True)
        ((loss_d_fake + loss_d_real) * 0.5).backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad = False
        opt_g.zero_grad()
        loss_g_gan = gan(d(torch.cat((a, fake), 1)), True)
        loss_g_l1 = l1(fake, b) * lam
        (loss_g_gan + loss_g_l1).backward()
        opt_g.step()
        out[f'losses{k}'] = np.array([loss_g_gan.item(), loss_g_l1.item(), loss_d_real.item(), loss_d_fake.item()])
        k += 1
    # Weights back in fidlab's names and tfjs layouts.
    for i in range(1, 6):
        p = levels[i].parts
        out[f'G/en{i}.conv.weight'] = p['down'].weight.detach().numpy().transpose(2, 3, 1, 0)
        out[f'G/de{i}.conv.weight'] = p['up'].weight.detach().numpy().transpose(2, 3, 1, 0)
        if p['downnorm'] is not None:
            out[f'G/en{i}.bn.weight'] = p['downnorm'].weight.detach().numpy()
            out[f'G/en{i}.bn.running_mean'] = p['downnorm'].running_mean.numpy()
            out[f'G/en{i}.bn.running_var'] = p['downnorm'].running_var.numpy()
        if p['upnorm'] is not None:
            out[f'G/de{i}.bn.bias'] = p['upnorm'].bias.detach().numpy()
    out['G/de1.conv.bias'] = levels[1].parts['up'].bias.detach().numpy()
    convs = [m for m in d if isinstance(m, nn.Conv2d)]
    bns = [m for m in d if isinstance(m, nn.BatchNorm2d)]
    for k2, c in enumerate(convs):
        out[f'D/l{k2}.conv.weight'] = c.weight.detach().numpy().transpose(2, 3, 1, 0)
    for k2, bn in enumerate(bns, start=1):
        out[f'D/l{k2}.bn.weight'] = bn.weight.detach().numpy()
        out[f'D/l{k2}.bn.running_var'] = bn.running_var.numpy()
    np.savez(sys.argv[2], **{k: np.ascontiguousarray(v).astype(np.float64) for k, v in out.items()})


if __name__ == '__main__':
    main()
