"""Compose networks with the layer algebra: >> joins, | runs side by side.

Run: .venv/bin/python examples/01_layer_algebra.py
"""

import torch

import neuralab as nl
from neuralab import layers as L

# LeNet-5 in one expression; shapes are checked as the layers are connected.
lenet = (L.Input((1, 32, 32))
         >> L.Convolution(6, 5) >> L.Relu() >> L.MaxPooling(2)
         >> L.Convolution(16, 5) >> L.Relu() >> L.MaxPooling(2)
         >> L.Reshape()
         >> L.Relu(120) >> L.Relu(84) >> L.Softmax(10))
lenet.summary()

# A residual block: the block and an identity shortcut, added.
block = L.Convolution(8, 3, padding="same") >> L.BatchNorm() >> L.Relu()
residual = L.Input((8, 16, 16)) >> (block | L.Identity()) >> L.Elementwise("add")

# An inception module: four branches concatenated along the channels.
x = L.Input((16, 28, 28))
inception = x >> (
    L.Convolution(8, 1)
    | (L.Convolution(4, 1) >> L.Convolution(8, 3, padding="same"))
    | (L.Convolution(2, 1) >> L.Convolution(4, 5, padding="same"))
    | (L.MaxPooling(3, stride=1, padding="same") >> L.Convolution(4, 1))
) >> L.Concatenate()
print("inception output:", inception.output_shape)  # (24, 28, 28)

# Stacks: repeat makes independent copies.
mlp = L.Input(64) >> nl.repeat(L.Relu(64) >> L.Dropout(0.1), 3) >> L.Softmax(10)
print("mlp layers:", len(mlp.layers), "output:", mlp(torch.randn(4, 64)).shape)

# A mismatch fails at the line that wrote it, naming both layers and shapes.
try:
    L.Input((1, 8, 8)) >> L.Relu(10)
except nl.errors.ShapeError as error:
    print("ShapeError:", error)
