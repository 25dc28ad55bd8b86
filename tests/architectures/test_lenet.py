"""LeNet-5 learns the 8×8 digits resized to 32×32 (the training demo)."""

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from neuralab.architectures import create


@pytest.mark.slow
def test_lenet5_learns_digits():
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0   # (N, 1, 8, 8)
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)  # (N, 1, 32, 32)
    y = torch.tensor(digits.target)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    torch.manual_seed(0)
    net = create("lenet5")
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(6):
        net.train()
        for idx in torch.randperm(len(x_tr)).split(32):
            loss = F.cross_entropy(net(x_tr[idx]), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(x_te).argmax(1) == y_te).float().mean().item()
    assert accuracy >= 0.95
