"""A two-network model trained by overriding one method of the Trainer.

An autoencoder on the bundled 8x8 digits: the encoder learns with Adam, the
decoder with SGD + momentum at its own rate. Only ``train_step`` is written;
progress lines, callbacks, checkpoints (both optimizers are saved), resume and
the NaN guard come from ``neuralab.training.Trainer``.

    python examples/10_custom_trainer.py
"""

import tempfile

import torch
from sklearn.datasets import load_digits

import neuralab as nl
from neuralab import layers as L
from neuralab.training import Checkpoint, Trainer


class AutoEncoderTrainer(Trainer):
    def __init__(self, encoder, decoder, **kw):
        model = torch.nn.Sequential(encoder, decoder)
        super().__init__(model, optimizer=None, loss=None, **kw)   # we bring our own optimizers
        self.optimizers["encoder"] = torch.optim.Adam(encoder.parameters(), lr=3e-3)
        self.optimizers["decoder"] = torch.optim.SGD(decoder.parameters(), lr=0.05, momentum=0.9)

    def train_step(self, batch):
        (x,), _ = batch                          # inputs only: fit(x) was given no targets
        for opt in self.optimizers.values():
            opt.zero_grad()
        loss = torch.nn.functional.mse_loss(self.module(x), x)
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
        return {"loss": loss.detach()}           # averaged per epoch, logged, checked for NaN


if __name__ == "__main__":
    nl.set_seed(0)
    x = torch.tensor(load_digits().data, dtype=torch.float32) / 16.0          # (1797, 64)
    encoder = L.Input(64) >> L.Relu(32) >> L.Tanh(8)
    decoder = L.Input(8) >> L.Relu(32) >> L.Sigmoid(64)
    with tempfile.TemporaryDirectory() as run:
        trainer = AutoEncoderTrainer(encoder, decoder, progress="line", seed=0,
                                     callbacks=[Checkpoint(run)])
        history = trainer.fit(x, epochs=6, batch_size=64)
        # a fresh trainer continues the same run from the checkpoint
        more = AutoEncoderTrainer(encoder, decoder, progress=False, seed=0).fit(
            x, epochs=8, batch_size=64, resume_from=run)
    print(f"reconstruction MSE: epoch 1 {history['loss'][0]:.4f}, epoch 6 {history['loss'][-1]:.4f}, "
          f"after resuming to epoch 8 {more['loss'][-1]:.4f}")
