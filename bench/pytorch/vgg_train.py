#!/usr/bin/env python3
"""PyTorch side of `bench/vgg-vs-pytorch.sh`: training throughput of VGG11-BN (CIFAR-10 form) on synthetic data.

Not part of the build or the tests. Same model, batch, thread count and optimizer (SGD with momentum) as
`fusedopt bench train --model vgg11`; prints one JSON object (images per second, peak resident memory).
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn

CONFIG = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def vgg11_bn(width: float) -> nn.Module:
    layers, channels = [], 3
    for v in CONFIG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            c = max(1, int(round(v * width)))
            layers += [nn.Conv2d(channels, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            channels = c
    return nn.Sequential(nn.Sequential(*layers), nn.Flatten(), nn.Linear(channels, 10))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = vgg11_bn(args.width).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    best = times[0]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "framework": f"PyTorch {torch.__version__}",
        "mkldnn": torch.backends.mkldnn.is_available(),
        "model": "vgg11", "width": args.width, "batch": args.batch, "threads": torch.get_num_threads(),
        "imagesPerSecond": args.batch / best, "medianImagesPerSecond": args.batch / median,
        "msPerIteration": 1e3 * best, "medianMsPerIteration": 1e3 * median,
        "peakResidentMiB": peak_kib / 1024.0,
    }))


if __name__ == "__main__":
    main()
