#!/usr/bin/env python3
"""The first iterations of VGG11-BN with SGD-momentum at lr 0.1 in PyTorch (docs/experiments.md, VGG11 study status).

Not part of the build or the tests. Same model as `vgg_train.py`, seed 000's settings (momentum 0.9, weight decay 5e-4
on tensors of rank >= 2 as FusedOpt's `--weight-decay` does, batch 128, crop with padding 4 and flip) on the first
training file; prints the loss every 10 iterations. `--init ours` uses FusedOpt's VGG initialisation (He-normal
convolutions, zero biases, Xavier-uniform classifier), `--init default` PyTorch's.

  /usr/bin/python3 bench/pytorch/vgg_sgd_probe.py --init ours --iterations 120 --data ../shared/data/cifar-10-batches-bin
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn

from vgg_train import vgg11_bn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--init", choices=["ours", "default"], default="ours")
    parser.add_argument("--iterations", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="../shared/data/cifar-10-batches-bin")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    raw = np.fromfile(os.path.join(args.data, "data_batch_1.bin"), dtype=np.uint8).reshape(-1, 3073)
    y = torch.tensor(raw[:, 0].astype(np.int64))
    x = torch.tensor(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255)
    mean = torch.tensor([0.4913, 0.4821, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2452, 0.2428, 0.2606]).view(1, 3, 1, 1)
    x = (x - mean) / std

    model = vgg11_bn(1.0).train()
    if args.init == "ours":
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}], lr=0.1, momentum=0.9)

    g = torch.Generator().manual_seed(1)
    for i in range(args.iterations):
        idx = torch.randint(0, x.shape[0], (128,), generator=g)
        xb = nn.functional.pad(x[idx], (4, 4, 4, 4))
        dx, dy = torch.randint(0, 9, (2,), generator=g)
        xb = xb[:, :, dy:dy + 32, dx:dx + 32]
        if torch.rand(1, generator=g) < 0.5:
            xb = xb.flip(3)
        loss = nn.functional.cross_entropy(model(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i % 10 == 0 or i == args.iterations - 1:
            print(args.init, i, round(loss.item(), 3), flush=True)


if __name__ == "__main__":
    main()
