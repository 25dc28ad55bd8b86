"""Second-order training: XOR with a 2-2-1 tanh network and Levenberg-Marquardt.

Run: .venv/bin/python examples/03_levenberg_marquardt.py
"""

import numpy as np

from neuralab import layers as L

x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
y = np.array([[0], [1], [1], [0]], dtype=np.float64)

net = (L.Input(2) >> L.Tanh(2) >> L.Linear(1)).double()  # float64 end to end
history = net.fit(x, y, optimizer="lm", loss="mse", epochs=50, progress=False, seed=1)
print("final MSE:", history["loss"][-1])
print("predictions:", net.predict(x).round(4).ravel())
