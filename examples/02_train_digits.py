"""Train LeNet-5 on scikit-learn's bundled digits, save it, load it back.

Run: .venv/bin/python examples/02_train_digits.py
(the same job from the shell: `neuralab train lenet5 --data digits`)
"""

import os
import tempfile

import neuralab as nl
from neuralab.datasets import load_digits

data = load_digits(size=32)  # 8x8 digits resized to LeNet-5's 32x32, fixed 80/20 split
net = nl.architectures.create("lenet5", num_classes=10)
history = net.fit(data.x_train, data.y_train, optimizer="adam", epochs=10, batch_size=32,
                  metrics=["accuracy"], validation_split=0.1, seed=0,
                  callbacks=[nl.callbacks.EarlyStopping(patience=3)])
print(net.evaluate(data.x_test, data.y_test, metrics=["accuracy"]))

path = os.path.join(tempfile.mkdtemp(), "lenet5.safetensors")
nl.save(net, path)
again = nl.load(path)
print("reloaded:", again.evaluate(data.x_test, data.y_test, metrics=["accuracy"]))
