"""PyTorch reference forward passes for fidlab's models (run by torchParity.test.ts).

The networks are pix2pix's UnetGenerator / UnetSkipConnectionBlock / NLayerDiscriminator
(junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py, norm 'batch') and the seed's VAE, written
out here as in those sources (the no-skip U-Net returns model(x) instead of cat([x, model(x)])).
Usage: torch_parity.py IN.npz OUT.npz. IN holds fidlab's weights (tfjs layouts, keys
'<net>/<param>'), inputs 'x32' / 'x64'; OUT gets each net's output per mode.
"""
import sys

import numpy as np
import torch
import torch.nn as nn


class UnetSkipConnectionBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
                 innermost=False, use_dropout=False, skip=True):
        super().__init__()
        self.outermost = outermost
        self.skip = skip
        use_bias = False  # BatchNorm2d
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = nn.BatchNorm2d(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = nn.BatchNorm2d(outer_nc)
        mult = 2 if skip else 1
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * mult, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * mult, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model = model + [nn.Dropout(0.5)]
        self.model = nn.Sequential(*model)
        self.parts = dict(down=downconv, downnorm=None if outermost or innermost else downnorm,
                          up=upconv, upnorm=None if outermost else upnorm)

    def forward(self, x):
        if self.outermost or not self.skip:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


def unet(num_downs, ngf, skip):
    block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, skip=skip)
    blocks = [block]
    for _ in range(num_downs - 5):
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=True, skip=skip)
        blocks.append(block)
    for outer, inner in [(ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)]:
        block = UnetSkipConnectionBlock(outer, inner, submodule=block, skip=skip)
        blocks.append(block)
    block = UnetSkipConnectionBlock(3, ngf, input_nc=3, submodule=block, outermost=True, skip=skip)
    blocks.append(block)
    # blocks[-1] is level 1 (outermost), blocks[0] level num_downs (innermost)
    levels = {num_downs - k: b for k, b in enumerate(blocks)}
    return block, levels


def nlayer_d(input_nc, ndf, n_layers=3):
    kw, padw = 4, 1
    seq = [nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
    nf_mult = 1
    for n in range(1, n_layers):
        nf_mult_prev, nf_mult = nf_mult, min(2 ** n, 8)
        seq += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=2, padding=padw, bias=False),
                nn.BatchNorm2d(ndf * nf_mult), nn.LeakyReLU(0.2, True)]
    nf_mult_prev, nf_mult = nf_mult, min(2 ** n_layers, 8)
    seq += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=1, padding=padw, bias=False),
            nn.BatchNorm2d(ndf * nf_mult), nn.LeakyReLU(0.2, True)]
    seq += [nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw)]
    return nn.Sequential(*seq)


class Vae(nn.Module):
    """The seed's VAEEncoder, with ndf = 2 ngf and the size as a parameter (fidlab's deviation)."""

    def __init__(self, size, ngf):
        super().__init__()
        ndf = 2 * ngf
        widths = [ndf, ndf * 2, ndf * 4, ndf * 8, ndf * 8, ndf * 8]
        cin = 3
        self.enc = nn.ModuleList()
        for w in widths:
            self.enc.append(nn.Sequential(nn.Conv2d(cin, w, 3, stride=2, padding=1), nn.BatchNorm2d(w)))
            cin = w
        self.s0 = size // 64
        self.fc_mu = nn.Linear(cin * self.s0 * self.s0, 256)
        self.fc_var = nn.Linear(cin * self.s0 * self.s0, 256)
        self.actvn = nn.LeakyReLU(0.2, False)
        m = int(np.log2(size))
        outs = [ngf * min(2 ** (m - j - 1), 8) if j < m else 3 for j in range(1, m + 1)]
        self.dec = nn.ModuleList()
        din = 256
        for j, w in enumerate(outs, start=1):
            layers = [nn.ConvTranspose2d(din, w, kernel_size=4, stride=2, padding=1)]
            if j < m:
                layers += [nn.BatchNorm2d(w)] + ([nn.Dropout(0.5)] if 2 <= j <= 4 else []) + [nn.ReLU(True)]
            else:
                layers += [nn.Tanh()]
            self.dec.append(nn.Sequential(*layers))
            din = w

    def forward(self, x):
        for k, layer in enumerate(self.enc):
            x = layer(x if k == 0 else self.actvn(x))
        x = self.actvn(x).reshape(x.shape[0], -1)
        mu = self.fc_mu(x)  # eval: z = mu
        y = mu.view(mu.shape[0], -1, 1, 1)
        for layer in self.dec:
            y = layer(y)
        return y


def conv_w(a):  # tfjs [k, k, in, out] -> torch Conv2d [out, in, k, k]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(3, 2, 0, 1)))


def convt_w(a):  # tfjs conv2dTranspose [k, k, out, in] -> torch ConvTranspose2d [in, out, k, k]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(3, 2, 0, 1)))


def set_bn(bn, w, prefix):
    bn.weight.data = torch.from_numpy(w[prefix + '.weight'])
    bn.bias.data = torch.from_numpy(w[prefix + '.bias'])
    bn.running_mean.data = torch.from_numpy(w[prefix + '.running_mean'])
    bn.running_var.data = torch.from_numpy(w[prefix + '.running_var'])


def load_unet(w, levels, n):
    for i in range(1, n + 1):
        p = levels[i].parts
        p['down'].weight.data = conv_w(w[f'en{i}.conv.weight'])
        if p['downnorm'] is not None:
            set_bn(p['downnorm'], w, f'en{i}.bn')
        p['up'].weight.data = convt_w(w[f'de{i}.conv.weight'])
        if i == 1:
            p['up'].bias.data = torch.from_numpy(w['de1.conv.bias'])
        else:
            set_bn(p['upnorm'], w, f'de{i}.bn')


def load_d(w, d):
    convs = [m for m in d if isinstance(m, nn.Conv2d)]
    bns = [m for m in d if isinstance(m, nn.BatchNorm2d)]
    for k, c in enumerate(convs):
        c.weight.data = conv_w(w[f'l{k}.conv.weight'])
        if c.bias is not None:
            c.bias.data = torch.from_numpy(w[f'l{k}.conv.bias'])
    for k, bn in enumerate(bns, start=1):
        set_bn(bn, w, f'l{k}.bn')


def load_vae(w, v):
    for k, layer in enumerate(v.enc, start=1):
        layer[0].weight.data = conv_w(w[f'en{k}.conv.weight'])
        layer[0].bias.data = torch.from_numpy(w[f'en{k}.conv.bias'])
        set_bn(layer[1], w, f'en{k}.bn')
    c = v.enc[-1][0].out_channels
    for name in ['fc_mu', 'fc_var']:
        a = w[f'{name}.weight']  # [s0*s0*c (h, w, c order), 256] -> torch [256, c*s0*s0 (c, h, w)]
        a = a.reshape(v.s0, v.s0, c, 256).transpose(2, 0, 1, 3).reshape(-1, 256)
        getattr(v, name).weight.data = torch.from_numpy(np.ascontiguousarray(a.T))
        getattr(v, name).bias.data = torch.from_numpy(w[f'{name}.bias'])
    for j, layer in enumerate(v.dec, start=1):
        layer[0].weight.data = convt_w(w[f'de{j}.conv.weight'])
        layer[0].bias.data = torch.from_numpy(w[f'de{j}.conv.bias'])
        if isinstance(layer[1], nn.BatchNorm2d):
            set_bn(layer[1], w, f'de{j}.bn')


def main():
    src = np.load(sys.argv[1])
    nets = {}
    for key in src.files:
        if '/' in key:
            net, param = key.split('/', 1)
            nets.setdefault(net, {})[param] = src[key].astype(np.float32)
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.astype(np.float32).transpose(0, 3, 1, 2)))
    nhwc = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)
    out = {}
    with torch.no_grad():
        g, levels = unet(5, 4, True)
        load_unet(nets['unet32'], levels, 5)
        x = nchw(src['x32'])
        g.eval(); out['unet32_eval'] = nhwc(g(x))
        g.train(); out['unet32_train'] = nhwc(g(x))  # no dropout block at 32 px
        g, levels = unet(6, 2, False)
        load_unet(nets['noskip64'], levels, 6)
        g.eval(); out['noskip64_eval'] = nhwc(g(nchw(src['x64'])))
        v = Vae(64, 2)
        load_vae(nets['vae64'], v)
        v.eval(); out['vae64_eval'] = nhwc(v(nchw(src['x64'])))
        d = nlayer_d(6, 4)
        load_d(nets['d32'], d)
        xd = nchw(src['xd32'])
        d.eval(); out['d32_eval'] = nhwc(d(xd))
        d.train(); out['d32_train'] = nhwc(d(xd))
    np.savez(sys.argv[2], **{k: v.astype(np.float64) for k, v in out.items()})


if __name__ == '__main__':
    main()
