"""Datasets the training tests share."""

import torch


class Pairs(torch.utils.data.Dataset):
    """A map-style Dataset of ``(x[i], y[i])`` read item by item (fit takes a TensorDataset
    into memory like arrays, so this is what exercises the streamed path)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]
