"""A new user's mistakes, each answered by a neuralab error saying what was expected and received.

Every case here was found by copying an example from the README or docs/ and changing one
thing the way a learner would (a single callback instead of a list, a string for a flag, a
folder where a file goes, labels where 0/1 flags go …); before the fix each one ended in a raw
Python or torch exception, or in a silent wrong answer.
"""

import numpy as np
import pytest
import torch

import neuralab as nl
from neuralab import layers as L
from neuralab.errors import ConfigError, DataError, DTypeError, ShapeError, StorageError


def _xy(n=16):
    rng = np.random.default_rng(0)
    return rng.random((n, 4), dtype=np.float32), rng.integers(0, 3, n)


def _net():
    return L.Input(4) >> L.Relu(8) >> L.Softmax(3)


# -- fit -----------------------------------------------------------------------------------------
def test_fit_single_callback_instead_of_a_list():
    x, y = _xy()
    with pytest.raises(ConfigError, match=r"fit: expected `callbacks` to be a list of Callback objects.*"
                                          r"received 'a single EarlyStopping'"):
        _net().fit(x, y, epochs=1, progress=False, callbacks=nl.callbacks.EarlyStopping())


@pytest.mark.parametrize("name", ["shuffle", "drop_last"])
def test_fit_flag_given_as_a_string(name):
    x, y = _xy()
    with pytest.raises(ConfigError, match=rf"fit: expected `{name}` to be True or False, received 'yes'"):
        _net().fit(x, y, epochs=1, progress=False, **{name: "yes"})


# -- callbacks: a file where a folder goes, a folder where a file goes ------------------------------
def test_checkpoint_into_an_existing_file(tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    with pytest.raises(ConfigError, match=r"Checkpoint: expected `directory` to be a folder path, "
                                          r"received \"the file '.*notes.txt'\""):
        nl.callbacks.Checkpoint(taken)
    assert taken.read_text() == "mine"


@pytest.mark.parametrize("logger", ["CSVLogger", "JSONLogger"])
def test_logger_into_an_existing_folder(tmp_path, logger):
    with pytest.raises(ConfigError, match=rf"{logger}: expected `path` to be a file path, "
                                          r"received \"the folder '.*'\""):
        getattr(nl.callbacks, logger)(tmp_path)


def test_logger_path_of_the_wrong_type():
    with pytest.raises(DTypeError, match=r"CSVLogger: expected `path` to be a file path \(str or "
                                         r"os.PathLike\), received 'int'"):
        nl.callbacks.CSVLogger(5)


def test_tensorboard_into_an_existing_file(tmp_path):
    pytest.importorskip("torch.utils.tensorboard")
    taken = tmp_path / "data.csv"
    taken.write_text("a,b\n")
    with pytest.raises(ConfigError, match=r"TensorBoard: expected `log_dir` to be a folder path, "
                                          r"received \"the file '.*data.csv'\""):
        nl.callbacks.TensorBoard(taken)


# -- storage -------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, owner", [
    (lambda: nl.load(3), "load"),
    (lambda: nl.load(None), "load"),
    (lambda: nl.save(_net(), 5), "save"),
    (lambda: nl.storage.read_metadata(["net.safetensors"]), "read_metadata"),
    (lambda: nl.storage.load_weights(torch.nn.Linear(4, 3), 7), "load_weights"),
])
def test_storage_path_of_the_wrong_type(call, owner):
    with pytest.raises(DTypeError, match=rf"{owner}: expected `path` to be a path \(str or os.PathLike\), "
                                         r"received '(int|NoneType|list)'"):
        call()


def test_load_weights_into_a_non_module(tmp_path):
    nl.save(torch.nn.Linear(4, 3), tmp_path / "linear.safetensors")
    with pytest.raises(DTypeError, match=r"load_weights: expected `module` to be a torch.nn.Module, "
                                         r"received 'linear'"):
        nl.storage.load_weights("linear", tmp_path / "linear.safetensors")


def test_save_flags_and_metadata_of_the_wrong_type(tmp_path):
    target = tmp_path / "net.safetensors"
    with pytest.raises(ConfigError, match=r"save: expected `allow_nonfinite` to be True or False, received 'yes'"):
        nl.save(_net(), target, allow_nonfinite="yes")
    with pytest.raises(DTypeError, match=r"save: expected `metadata` to be a dict \(JSON-serialisable\) or "
                                         r"None, received 'list'"):
        nl.save(_net(), target, metadata=["iris"])
    assert not target.exists()


# -- registries: a misspelt keyword argument -----------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda: nl.architectures.create("lenet5", n_classes=3),
     r"architecture 'lenet5': expected `n_classes` to be one of its arguments \(num_classes, input_shape, …\), "
     r"received 3"),
    (lambda: nl.registry.schedules.get("step_decay", factr=0.5),
     r"schedule 'step_decay': expected `factr` to be one of its arguments \(factor, every\), received 0.5"),
    (lambda: nl.registry.layers.get({"class": "Relu", "config": {"n_unit": 3}}),
     r"layer 'Relu': expected `n_unit` to be one of its arguments \(n_units, .*\), received 3"),
])
def test_registry_misspelt_keyword(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_registry_keeps_a_type_error_of_the_factory_itself():
    def broken(size=1):
        raise TypeError("f() got an unexpected keyword argument 'depth' (a bug inside the factory)")

    kinds = nl.registry.Registry("thing")
    kinds.register("broken")(broken)
    with pytest.raises(TypeError, match=r"'depth' \(a bug inside the factory\)"):
        kinds.get("broken", size=2)


# -- losses called in a plain PyTorch loop -------------------------------------------------------
def test_loss_with_class_labels_out_of_range():
    logits = torch.zeros(4, 3)
    with pytest.raises(DataError, match=r"softmax_crossentropy: expected class labels in \[0, 3\) for an output "
                                        r"with 3 classes, received labels in \[-1, 5\]"):
        nl.losses.softmax_crossentropy(logits, torch.tensor([0, 5, -1, 2]))
    # the padding label -100 stays ignored, as in torch
    assert float(nl.losses.softmax_crossentropy(logits, torch.tensor([0, 1, -100, 2]))) == pytest.approx(np.log(3))


def test_masked_sequence_loss_with_labels_beyond_the_vocabulary():
    from neuralab.sequences import MaskedLoss

    with pytest.raises(DataError, match=r"expected class labels in \[0, 4\) .* received labels in \[7, 7\]"):
        MaskedLoss()(torch.zeros(2, 5, 4), torch.full((2, 5), 7))


@pytest.mark.filterwarnings("ignore:Using a target size")   # torch's own, before it fails
@pytest.mark.parametrize("name", ["mse", "binary_crossentropy", "hinge", "categorical_crossentropy"])
def test_loss_with_targets_of_another_shape(name):
    with pytest.raises(ShapeError, match=rf"{name}: expected `y_true` of shape \(4, 3\) like `y_pred`, "
                                         r"received \(5, 3\)"):
        nl.losses.get(name)(torch.full((4, 3), 0.5), torch.zeros(5, 3))


def test_loss_with_numpy_targets():
    with pytest.raises(DTypeError, match=r"mse: expected `y_true` to be a torch.Tensor, received ndarray"):
        nl.losses.mse(torch.zeros(4, 1), np.zeros(4))


# -- sequences: decoding ---------------------------------------------------------------------------
def _log_probs_only(tokens, state):            # forgot to return the state
    return torch.log_softmax(torch.zeros(len(tokens), 5), -1)


def test_decoding_step_that_returns_no_state():
    from neuralab.sequences import beam_search, greedy_search

    for search in (beam_search, greedy_search):
        with pytest.raises(ConfigError, match=rf"{search.__name__}: expected the step function to return a pair "
                                              r"\(log_probs, state\), received Tensor"):
            search(_log_probs_only, None, 0, max_length=3)


def test_greedy_search_step_with_a_flat_output():
    from neuralab.sequences import greedy_search

    def flat(tokens, state):                   # (V,) instead of (1, V): used to pick token 0 forever
        return torch.log_softmax(torch.tensor([0.0, 5.0, 0.0]), -1), state

    with pytest.raises(ConfigError, match=r"greedy_search: the step function must return log-probabilities "
                                          r"of shape \(1, V\), returned \(3,\)"):
        greedy_search(flat, None, 0, max_length=3)


def test_decoding_without_a_step_function():
    from neuralab.sequences import beam_search, sample

    with pytest.raises(DTypeError, match=r"beam_search: expected `step` to be a function step\(tokens, state\) "
                                         r"-> \(log_probs, state\), received 'NoneType'"):
        beam_search(None, None, 0)
    with pytest.raises(DTypeError, match=r"sample: expected `model` to be a CharLanguageModel, received 'lm'"):
        sample("lm", "ab", 5)


def test_pad_sequences_with_a_string_padding_value():
    from neuralab.sequences import pad_sequences

    with pytest.raises(DTypeError, match=r"pad_sequences: expected `value` to be a number \(the padding value\), "
                                         r"received '<pad>'"):
        pad_sequences([[1, 2, 3], [4]], value="<pad>")


def test_skipgram_given_sentences_like_gensim():
    from neuralab.sequences import SkipGram

    sentences = [["the", "cat", "sat"], ["the", "dog", "sat"]]
    with pytest.raises(DataError, match=r"SkipGram.fit: expected a flat list of words \(strings\), received a "
                                        r"list at position 0; join sentences first"):
        SkipGram(min_count=1).fit(sentences)


# -- reinforcement learning: states outside the table ----------------------------------------------
@pytest.mark.parametrize("state", [-1, 16, 1.5, "3"])
def test_tabular_agent_acting_on_a_state_outside_its_table(state):
    from neuralab import rl

    agent = rl.QLearning(rl.GridWorld.sutton_barto_4_1())   # 16 states; -1 used to wrap to the last row
    with pytest.raises(ConfigError, match=r"QLearning: expected `observation` to be an integer >= 0 and <= 15, "
                                          rf"received {state!r}"):
        agent.act(state)
    assert agent.act(np.int64(3)) == agent.act(3)


def test_tabular_agent_evaluated_on_a_larger_world():
    from neuralab import rl

    agent = rl.QLearning(rl.GridWorld.sutton_barto_4_1())
    with pytest.raises(ConfigError, match=r"expected `observation` to be an integer >= 0 and <= 15, received \d+"):
        rl.evaluate(agent, rl.GridWorld.sutton_barto_3_5(), episodes=3, seed=0)


# -- faces ---------------------------------------------------------------------------------------
def test_contrastive_loss_given_identity_labels_instead_of_same_flags():
    from neuralab.vision.face import contrastive_loss

    a, b = torch.zeros(4, 2), torch.ones(4, 2)
    with pytest.raises(DataError, match=r"contrastive_loss: expected `same` to hold 1/True .* or 0/False per pair, "
                                        r"received values in \[0, 7\]"):
        contrastive_loss(a, b, torch.tensor([0, 3, 7, 1]))           # used to weight d² by 3 and 7
    flags = contrastive_loss(a, b, torch.tensor([True, False, False, True]))
    assert torch.equal(flags, contrastive_loss(a, b, torch.tensor([1.0, 0.0, 0.0, 1.0])))


# -- GANs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma, what", [
    (-np.eye(3), r"asymmetry 0 and smallest eigenvalue -1"),                 # used to give 0.0
    (np.triu(np.ones((3, 3))), r"asymmetry 1 and smallest eigenvalue -?0\.\d+"),
])
def test_frechet_distance_of_a_matrix_that_is_no_covariance(sigma, what):
    from neuralab.generative import frechet_distance

    with pytest.raises(DataError, match=r"frechet_distance: expected `sigma1` to be a covariance matrix "
                                        r"\(symmetric, positive semi-definite\), received a matrix with " + what):
        frechet_distance(np.zeros(3), sigma, np.zeros(3), np.eye(3))


# -- datasets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(noise=-0.1), r"make_spirals: expected `noise` to be a finite number >= 0, received -0.1"),  # numpy's raw
    (dict(noise=float("nan")), r"make_spirals: expected `noise` to be a finite number >= 0, received nan"),  # NaN X
    (dict(turns=float("inf")), r"make_spirals: expected `turns` to be a finite number, received inf"),
])
def test_make_spirals_with_a_bad_noise_or_turns(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        nl.datasets.make_spirals(50, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(test_size="0.2"), r"load_digits: expected `test_size` to be a finite number > 0 and < 1, received '0.2'"),
    (dict(flat="yes"), r"load_digits: expected `flat` to be True or False, received 'yes'"),
])
def test_load_digits_with_a_string_option(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        nl.datasets.load_digits(**kwargs)


def test_face_verifier_fitted_on_identity_labels_or_nan_embeddings():
    from neuralab.vision.face import FaceVerifier

    rng = np.random.default_rng(0)
    a, b = rng.random((20, 4)), rng.random((20, 4))
    with pytest.raises(DataError, match=r"roc_curve: expected `same` to hold 1/True .* received "
                                        r"values in \[0, 19\]"):
        FaceVerifier().fit(a, b, np.arange(20))                      # used to count 19 of 20 as 'same'
    a[3] = np.nan
    with pytest.raises(DataError, match=r"roc_curve: expected finite distances, received 1 NaN/inf"):
        FaceVerifier().fit(a, b, np.arange(20) % 2)


# -- detection -----------------------------------------------------------------------------------
def _encoder():
    from neuralab.vision.detection import YoloEncoder

    return YoloEncoder(64, 4, [[10.0, 10.0], [20.0, 20.0]], 3)


@pytest.mark.parametrize("targets, message", [
    ([{"box": [[0.0, 0, 10, 10]], "labels": [1]}],                           # KeyError: 'boxes'
     r"expected `targets\[0\]` to be a dict with keys \['boxes', 'labels'\], received \['box', 'labels'\]"),
    ([torch.tensor([[0.0, 0, 10, 10]])],                                    # IndexError
     r"expected `targets\[0\]` to be a dict with keys \['boxes', 'labels'\], received Tensor"),
    ([{"boxes": [[0.0, 0, 10, 10]], "labels": [1.7]}],                       # silently class 1
     r"expected integer class labels in `targets\[0\]\['labels'\]`, received \[1.7"),
])
def test_yolo_encoder_with_malformed_targets(targets, message):
    with pytest.raises(DataError, match=r"YoloEncoder.encode: " + message):
        _encoder().encode(targets)


def test_yolo_loss_given_the_raw_targets_instead_of_their_encoding():
    from neuralab.vision.detection import yolo_loss

    targets = [{"boxes": [[0.0, 0, 10, 10]], "labels": [1]}]
    with pytest.raises(DTypeError, match=r"yolo_loss: expected `y` to be the encoded targets "
                                         r"encoder.encode\(targets\), a tensor, received 'list'"):
        yolo_loss(torch.zeros(1, 4, 4, 2, 8), targets, _encoder())


# -- CNN arithmetic --------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda A: A.conv_parameters(3, -64, 128), r"expected `channels` to be an integer >= 1, received -64"),  # was -73600
    (lambda A: A.dense_parameters(True, 3), r"expected `n_in` to be an integer >= 1, received True"),        # was 6
    (lambda A: A.dense_parameters(2.5, 3), r"expected `n_in` to be an integer >= 1, received 2.5"),          # was 10.5
    (lambda A: A.output_size(32.5, 5), r"expected `input_size` to be an integer >= 1, received 32.5"),       # was 28.0
    (lambda A: A.receptive_field([5, 2]), r"receptive_field: expected `layers` to be a list of \(F, S\) or "
                                          r"\(F, S, dilation\) items, received 5"),                           # TypeError
])
def test_cnn_arithmetic_with_impossible_sizes(call, message):
    with pytest.raises(ConfigError, match=message):
        call(nl.arithmetic)


def test_history_plot_into_a_folder_or_of_an_unrecorded_metric(tmp_path):
    x, y = _xy()
    history = _net().fit(x, y, epochs=2, progress=False)
    with pytest.raises(ConfigError, match=r"History.plot: expected `path` to be a file path, received \"the folder"):
        history.plot(tmp_path)                                            # PIL's IsADirectoryError
    with pytest.raises(ConfigError, match=r"History.plot: expected `keys` to be one of 'loss', 'lr', 'time', "
                                          r"received 'accuracy'"):
        history.plot(tmp_path / "curves.png", keys=["accuracy"])          # an empty panel, silently
    assert not (tmp_path / "curves.png").exists()


# -- fit: what the user's own loss and schedule return ---------------------------------------------
@pytest.mark.parametrize("loss, got", [
    (lambda p, t: 1.0, r"'a float'"),                                      # AttributeError: no backward
    (lambda p, t: (p - 1) ** 2, r"'a tensor of shape \(16, 3\)'"),          # autograd's RuntimeError
])
def test_fit_with_a_custom_loss_that_is_not_a_scalar(loss, got):
    x, y = _xy()
    with pytest.raises(ConfigError, match=r"fit: expected `loss` to be a function returning a scalar tensor per "
                                          r"batch, received " + got):
        _net().fit(x, y, loss=loss, epochs=1, progress=False, batch_size=16)


@pytest.mark.parametrize("factor", [-1.0, float("nan"), "0.5"])
def test_fit_with_a_schedule_returning_an_impossible_factor(factor):
    x, y = _xy()
    net = _net()
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ConfigError, match=r"fit: expected `lr_schedule\(epoch\)` to be a finite number >= 0, "
                                          rf"received {factor!r}"):
        net.fit(x, y, lr_schedule=lambda epoch: factor, epochs=2, progress=False)   # -1 ascended the loss
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_fit_with_a_torch_scheduler_of_another_optimizer():
    x, y = _xy()
    other = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(ConfigError, match=r"fit: expected `lr_schedule` to be a torch LR scheduler of the optimizer "
                                          r"fit trains with .*received 'a StepLR of another SGD'"):
        _net().fit(x, y, lr_schedule=torch.optim.lr_scheduler.StepLR(other, 1), epochs=2, progress=False)


def test_fit_with_a_torch_scheduler_class_instead_of_an_instance():
    x, y = _xy()
    with pytest.raises(ConfigError, match=r"fit: expected `lr_schedule` to be a torch LR scheduler instance, "
                                          r"e.g. StepLR\(opt, step_size=10\) with optimizer=opt, received "
                                          r"'the class StepLR'"):
        _net().fit(x, y, lr_schedule=torch.optim.lr_scheduler.StepLR, epochs=2, progress=False)


# -- graphs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("merge", [L.Concatenate, lambda: L.Elementwise("add")])
def test_network_called_with_inputs_of_different_batch_sizes(merge):
    net = (L.Input(4, name="left") | L.Input(4, name="right")) >> merge() >> L.Relu(3)
    with pytest.raises(ShapeError, match=r"network 'network': expected one batch size for its inputs \('left', "
                                         r"'right'\), received batches of 2, 3 samples"):
        net(torch.zeros(2, 4), torch.zeros(3, 4))                          # torch.cat's RuntimeError
    assert net(torch.zeros(2, 4), torch.zeros(2, 4)).shape == (2, 3)


def test_sample_grid_of_diverged_samples_or_a_text_range():
    from neuralab.generative import sample_grid

    with pytest.raises(DataError, match=r"sample_grid: expected finite pixel values, received 64 NaN/inf"):
        sample_grid(torch.full((1, 1, 8, 8), float("nan")))                # a NaN picture, silently
    with pytest.raises(ConfigError, match=r"sample_grid: expected `value_range` to be a pair \(low, high\) with "
                                          r"low < high or None, received \('black', 'white'\)"):
        sample_grid(torch.zeros(1, 1, 8, 8), value_range=("black", "white"))   # float('black'): ValueError


@pytest.mark.parametrize("pred, got", [
    (torch.zeros(0, 5, 2), r"shape \(0, 5, 2\) with 0 NaN/inf"),                    # the mean of nothing: NaN
    (torch.full((2, 5, 2), float("nan")), r"shape \(2, 5, 2\) with 20 NaN/inf"),
])
def test_landmark_error_of_no_points_or_nan_points(pred, got):
    from neuralab.vision.detection import landmark_error

    with pytest.raises(DataError, match=r"landmark_error: expected at least one point and finite values in "
                                        r"`pred`, received " + got):
        landmark_error(pred, torch.zeros_like(pred))


def test_vocabulary_decode_of_text_or_fractional_indices():
    from neuralab.sequences import Vocabulary

    vocab = Vocabulary(list("abc"))
    with pytest.raises(DTypeError, match=r"Vocabulary.decode: expected `indices` to be integer indices \(encode turns "
                                         r"text into them\), received 'ab'"):
        vocab.decode("ab")                                                  # torch's 'new(): invalid data type'
    with pytest.raises(DataError, match=r"Vocabulary: expected indices in \[0, 3\), received 1.5"):
        vocab.decode([1.5])                                                 # 'list indices must be integers'
    assert vocab.decode(vocab.encode("cab")) == "cab"


def test_loading_a_training_checkpoint_as_a_model(tmp_path):
    x, y = _xy()
    _net().fit(x, y, epochs=1, progress=False, callbacks=[nl.callbacks.Checkpoint(tmp_path)])
    checkpoint = tmp_path / "checkpoint.safetensors"
    message = (r"is a training checkpoint, not a model file: expected a file written by nl.save; continue the run "
               r"with fit\(..., resume_from=its folder\)")
    with pytest.raises(StorageError, match=message):
        nl.load(checkpoint)                  # said 'holds weights only … call load_weights', which then failed
    with pytest.raises(StorageError, match=message):
        nl.storage.load_weights(_net(), checkpoint)        # 'missing relu-1.bias …; unexpected meta.0 …'
    with pytest.raises(DTypeError, match=r"load_checkpoint: expected `path` to be a path"):
        nl.training.load_checkpoint(5)
