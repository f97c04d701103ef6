#!/usr/bin/env python3
"""Reference parameter counts for bpr's model zoo.

Builds, with PyTorch, the CIFAR variants of the models that bpr::models reproduces and
prints, per model and input format, the number of trainable parameters and (with
--names) the state_dict names, so that the C++ tests can compare against exact integers.

The modules follow the widely used reference implementations:
  ResNet-20/32/56  akamaster/pytorch_resnet_cifar10 (option A shortcut; option B too)
  VGG16            kuangliu/pytorch-cifar  (conv+BN+ReLU, one linear 512->10)
  DenseNet-121     kuangliu/pytorch-cifar  (growth 32, bottleneck, reduction 0.5)
  EfficientNet-B0  kuangliu/pytorch-cifar  (stem 3x3/1, head linear 320->10)
  LeNet-5          conv 6@5x5, pool, conv 16@5x5, pool, fc 120, 84, 10

Usage: /usr/bin/python3 tools/reference_models.py [--forward] [--names MODEL] [--dump DIR]
"""

import argparse
import math

import torch
from torch import nn
import torch.nn.functional as F


class PadShortcut(nn.Module):
    """Option A: subsample by 2 and zero-pad channels on both sides (no parameters)."""

    def __init__(self, planes):
        super().__init__()
        self.extra = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.extra, self.extra))


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride, option):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            if option == "A":
                self.shortcut = PadShortcut(planes)
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                              nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    def __init__(self, depth, in_channels=3, num_classes=10, option="A"):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        stages = []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(cin, planes, stride if i == 0 else 1, option))
                cin = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class Vgg16(nn.Module):
    plan = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
            512, 512, 512, "M"]

    def __init__(self, in_channels=3, num_classes=10):
        super().__init__()
        layers, cin = [], in_channels
        for item in self.plan:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, item, 3, padding=1), nn.BatchNorm2d(item),
                           nn.ReLU(inplace=True)]
                cin = item
        layers.append(nn.AvgPool2d(1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class DenseBottleneck(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)  # new features first, as the reference does


class DenseTransition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNetCifar(nn.Module):
    def __init__(self, blocks=(6, 12, 24, 16), growth=32, reduction=0.5, in_channels=3,
                 num_classes=10):
        super().__init__()
        planes = 2 * growth
        self.conv1 = nn.Conv2d(in_channels, planes, 3, padding=1, bias=False)
        for stage, count in enumerate(blocks, start=1):
            layers = []
            for _ in range(count):
                layers.append(DenseBottleneck(planes, growth))
                planes += growth
            setattr(self, f"dense{stage}", nn.Sequential(*layers))
            if stage < len(blocks):
                out = int(math.floor(planes * reduction))
                setattr(self, f"trans{stage}", DenseTransition(planes, out))
                planes = out
        self.bn = nn.BatchNorm2d(planes)
        self.linear = nn.Linear(planes, num_classes)

    def forward(self, x):
        out = self.conv1(x)
        out = self.trans1(self.dense1(out))
        out = self.trans2(self.dense2(out))
        out = self.trans3(self.dense3(out))
        out = self.dense4(out)
        out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)
        return self.linear(out)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeezed):
        super().__init__()
        self.se1 = nn.Conv2d(channels, squeezed, 1, bias=True)
        self.se2 = nn.Conv2d(squeezed, channels, 1, bias=True)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = torch.sigmoid(self.se2(F.silu(self.se1(s))))
        return x * s


class MBConv(nn.Module):
    """As kuangliu's Block: conv1/bn1 exist even when expansion == 1 (then unused)."""

    def __init__(self, cin, cout, kernel, stride, expansion, se_ratio=0.25):
        super().__init__()
        self.expansion = expansion
        ch = expansion * cin
        self.conv1 = nn.Conv2d(cin, ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, kernel, stride, 1 if kernel == 3 else 2, groups=ch,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.se = SqueezeExcite(ch, int(cin * se_ratio))
        self.conv3 = nn.Conv2d(ch, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        out = x if self.expansion == 1 else F.silu(self.bn1(self.conv1(x)))
        out = F.silu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.se(out)))
        return out + x if self.skip else out


class EfficientNetB0Cifar(nn.Module):
    table = dict(blocks=[1, 2, 2, 3, 3, 4, 1], expansion=[1, 6, 6, 6, 6, 6, 6],
                 channels=[16, 24, 40, 80, 112, 192, 320], kernel=[3, 3, 5, 3, 5, 5, 3],
                 stride=[1, 2, 2, 2, 1, 2, 1])

    def __init__(self, in_channels=3, num_classes=10, reference_dead_params=True):
        super().__init__()
        t = self.table
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        layers, cin = [], 32
        for e, c, n, k, s in zip(t["expansion"], t["channels"], t["blocks"], t["kernel"],
                                 t["stride"]):
            for i in range(n):
                block = MBConv(cin, c, k, s if i == 0 else 1, e)
                if e == 1 and not reference_dead_params:
                    del block.conv1, block.bn1
                layers.append(block)
                cin = c
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(cin, num_classes)

    def forward(self, x):
        out = F.silu(self.bn1(self.conv1(x)))
        out = F.adaptive_avg_pool2d(self.layers(out), 1).flatten(1)
        return self.linear(F.dropout(out, 0.2, self.training))


class LeNet5(nn.Module):
    """conv 6@5x5 (padding 2 below 32x32), pool, conv 16@5x5, pool, fc 120, 84, 10."""

    def __init__(self, in_channels=1, image=28, num_classes=10):
        super().__init__()
        pad = 2 if image < 32 else 0
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=pad)
        self.conv2 = nn.Conv2d(6, 16, 5)
        side = ((image + 2 * pad - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        out = F.max_pool2d(F.relu(self.conv1(x)), 2)
        out = F.max_pool2d(F.relu(self.conv2(out)), 2).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(out)))))


def zoo():
    for channels, image in ((1, 28), (3, 32)):
        tag = f"{channels}x{image}x{image}"
        yield f"lenet5 {tag}", LeNet5(channels, image), (channels, image)
        for depth in (20, 32, 56):
            yield f"resnet{depth} {tag}", ResNetCifar(depth, channels), (channels, image)
        yield f"resnet20_option_b {tag}", ResNetCifar(20, channels, option="B"), (channels, image)
        yield f"vgg16 {tag}", Vgg16(channels), (channels, image)
        yield f"densenet121 {tag}", DenseNetCifar(in_channels=channels), (channels, image)
        yield f"efficientnet_b0 {tag}", EfficientNetB0Cifar(channels), (channels, image)
        yield (f"efficientnet_b0_without_dead {tag}",
               EfficientNetB0Cifar(channels, reference_dead_params=False), (channels, image))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", help="print state_dict names of this model (e.g. resnet20)")
    parser.add_argument("--forward", action="store_true", help="also run a forward pass")
    parser.add_argument("--dump", metavar="DIR",
                        help="write DIR/<model>.txt for the 3x32x32 models: one line per parameter "
                             "('param NAME d0,d1,...') then per buffer ('buffer ...'), in "
                             "registration order, without num_batches_tracked")
    args = parser.parse_args()
    torch.manual_seed(0)
    for label, model, (channels, image) in zoo():
        count = sum(p.numel() for p in model.parameters() if p.requires_grad)
        line = f"{label:40s} {count:>10d}"
        if args.forward:
            model.eval()
            try:
                with torch.no_grad():
                    out = model(torch.zeros(2, channels, image, image))
                line += f"  output {tuple(out.shape)}"
            except RuntimeError as failure:  # VGG16's fifth max pool at 28x28
                line += f"  forward fails: {str(failure).splitlines()[0]}"
        print(line)
        if args.dump and channels == 3:
            with open(f"{args.dump}/{label.split()[0]}.txt", "w") as out:
                for kind, items in (("param", model.named_parameters()),
                                    ("buffer", model.named_buffers())):
                    for name, tensor in items:
                        if not name.endswith("num_batches_tracked"):
                            dims = ",".join(str(d) for d in tensor.shape)
                            out.write(f"{kind} {name} {dims}\n")
        if args.names and label.split()[0] == args.names and channels == 3:
            for name, tensor in model.state_dict().items():
                print(f"    {name} {tuple(tensor.shape)}")


if __name__ == "__main__":
    main()
