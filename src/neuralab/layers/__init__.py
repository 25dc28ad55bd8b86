"""neuralab layers: every one a ``torch.nn.Module`` with shape inference and a config.

Import as ``from neuralab import layers as L``.
"""

from .activations import (
    ACTIVATIONS,
    Activation,
    Elu,
    HardSigmoid,
    LeakyRelu,
    Linear,
    PRelu,
    Relu,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
)
from .base import Layer
from .conv import Convolution, Deconvolution
from .core import Embedding, Identity, Input, Reshape, Transpose
from .merge import Concatenate, Elementwise, GatedAverage
from .normalization import BatchNorm, GroupNorm, LocalResponseNorm
from .pooling import AdaptiveAveragePooling, AveragePooling, GlobalPooling, MaxPooling, Upscale
from .recurrent import GRU, LSTM, SimpleRNN
from .stochastic import DropBlock, Dropout, GaussianNoise

__all__ = [
    "Layer", "Activation", "ACTIVATIONS", "get_activation",
    "Input", "Identity", "Reshape", "Transpose", "Embedding",
    "Linear", "Sigmoid", "HardSigmoid", "Tanh", "Relu", "LeakyRelu", "Elu", "PRelu",
    "Softplus", "Softmax",
    "Convolution", "Deconvolution",
    "MaxPooling", "AveragePooling", "AdaptiveAveragePooling", "Upscale", "GlobalPooling",
    "BatchNorm", "GroupNorm", "LocalResponseNorm",
    "Dropout", "GaussianNoise", "DropBlock",
    "Elementwise", "Concatenate", "GatedAverage",
    "SimpleRNN", "LSTM", "GRU",
]
