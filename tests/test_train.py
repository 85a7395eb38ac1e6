"""`hxemu train`: the data loaders (formats, bad and missing files), the shared training
mechanism on tiny budgets, the chip mapping, and the CLI."""

import gzip
import json
import sys
import warnings

import numpy as np
import pytest
import torch

from frontend import cli
from frontend.train import data as D
from frontend.train import engine, jobs
from frontend.train.recipes import Phase

# -- MNIST files -----------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_mnist(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is a bright column band (learnable), labels 0..9."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, :, 2 + 2 * c:4 + 2 * c] = 250
    return images, labels


def write_idx(folder, gz: bool, n_train: int = 120, n_test: int = 30) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    parts = {"train": fake_mnist(n_train, 1), "t10k": fake_mnist(n_test, 2)}
    for prefix, (images, labels) in parts.items():
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte" + (".gz" if gz else "")
            raw = idx_bytes(array)
            (folder / name).write_bytes(gzip.compress(raw) if gz else raw)


def write_torchvision(root, n_train: int = 120, n_test: int = 30) -> None:
    folder = root / "MNIST" / "processed"
    folder.mkdir(parents=True)
    for name, (images, labels) in (("training.pt", fake_mnist(n_train, 1)),
                                   ("test.pt", fake_mnist(n_test, 2))):
        torch.save((torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))),
                   folder / name)


@pytest.mark.parametrize("fmt", ["idx", "idx.gz", "torchvision", "raw-subfolder"])
def test_mnist_formats_load_the_same_data(tmp_path, fmt):
    if fmt == "torchvision":
        write_torchvision(tmp_path)
    else:
        write_idx(tmp_path / "MNIST" / "raw" if fmt == "raw-subfolder" else tmp_path,
                  gz=fmt == "idx.gz")
    split = D.load_mnist(tmp_path)
    images, labels = fake_mnist(120, 1)
    assert split.sizes() == {"train": 110, "validation": 10, "test": 30}
    x, y = split.train
    assert x.shape == (110, 1, 28, 28) and x.dtype == torch.float32
    np.testing.assert_array_equal(y.numpy(), labels[:110])
    np.testing.assert_allclose(x[:, 0].numpy(), images[:110] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.test[1].numpy(), fake_mnist(30, 2)[1])
    assert "torchvision" in split.description["source"] if fmt == "torchvision" \
        else "idx" in split.description["source"]


def test_missing_mnist_lists_what_was_looked_for(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")  # one of four is not enough
    with pytest.raises(FileNotFoundError) as e:
        D.load_mnist(tmp_path)
    text = str(e.value)
    assert "nothing is downloaded" in text and "training.pt, test.pt" in text
    assert "t10k-labels-idx1-ubyte[.gz]" in text and str(tmp_path / "MNIST" / "raw") in text
    with pytest.raises(FileNotFoundError, match="not a folder"):
        D.load_mnist(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="--data-path"):
        D.load_mnist(None)


def corrupt(path, how: str) -> None:
    raw = path.read_bytes()
    if how == "magic":
        path.write_bytes(b"\x00\x00\x09\x03" + raw[4:])
    elif how == "truncated":
        path.write_bytes(raw[:-5])
    elif how == "header":
        path.write_bytes(raw[:6])


@pytest.mark.parametrize("how, match", [("magic", "magic 0x00000903"),
                                        ("truncated", "the file has"),
                                        ("header", "truncated IDX header")])
def test_bad_idx_files_are_named(tmp_path, how, match):
    write_idx(tmp_path, gz=False)
    bad = tmp_path / "train-images-idx3-ubyte"
    corrupt(bad, how)
    with pytest.raises(D.DataFileError, match=match) as e:
        D.load_mnist(tmp_path)
    assert str(bad) in str(e.value)


def test_bad_contents_are_refused(tmp_path):
    write_idx(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(D.DataFileError, match="not a readable gzip file"):
        D.load_mnist(tmp_path)
    write_idx(tmp_path, gz=True, n_test=31)  # 31 images, then 30 labels
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(fake_mnist(30, 2)[1])))
    with pytest.raises(D.DataFileError, match="31 images but labels of shape"):
        D.load_mnist(tmp_path)
    labels = fake_mnist(31, 2)[1]
    labels[3] = 12
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(D.DataFileError, match=r"labels must be 0..9, found 0..12"):
        D.load_mnist(tmp_path)


def test_bad_torchvision_files(tmp_path):
    write_torchvision(tmp_path)
    path = tmp_path / "MNIST" / "processed" / "test.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(D.DataFileError, match="not a torchvision MNIST file"):
        D.load_mnist(tmp_path)
    torch.save({"images": torch.zeros(2)}, path)
    with pytest.raises(D.DataFileError, match="pair of tensors"):
        D.load_mnist(tmp_path)
    torch.save((torch.zeros(3, 28, 27, dtype=torch.uint8), torch.zeros(3)), path)
    with pytest.raises(D.DataFileError, match=r"\(N, 28, 28\)"):
        D.load_mnist(tmp_path)


def test_missing_extra_names_the_pip_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails
    with pytest.raises(D.MissingExtraError, match=r'pip install "hxemu\[jobs\]"'):
        D.load_digits()
    assert cli.main(["train", "digits", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "scikit-learn" in err and "pip install" in err


# -- packaged data sets ----------------------------------------------------------------------


def test_digits_split_is_fixed_and_disjoint():
    a, b = D.load_digits(), D.load_digits()
    assert a.sizes() == {"train": 1257, "validation": 180, "test": 360}
    assert torch.equal(a.test[0], b.test[0]) and torch.equal(a.train[1], b.train[1])
    x = torch.cat([a.train[0], a.validation[0], a.test[0]]).flatten(1)
    assert len(torch.unique(x, dim=0)) >= 1750  # no sample twice (the set has a few twins)
    assert x.min() == 0 and x.max() == 1
    assert a.train[0].shape[1:] == (1, 8, 8)


def test_mnist1d_is_generated_locally():
    split = D.load_mnist1d()
    assert split.sizes() == {"train": 3600, "validation": 400, "test": 1000}
    x = split.train[0]
    assert x.shape[1:] == (2, 40) and 0 <= x.min() and x.max() <= 1
    assert not ((x[:, 0] > 0) & (x[:, 1] > 0)).any()  # positive and negative parts
    assert set(split.test[1].tolist()) == set(range(10))


# -- the mechanism ---------------------------------------------------------------------------


def test_shuffled_draws_every_sample_once_per_pass():
    x = torch.arange(10.0)[:, None]
    source = engine.Shuffled(x, torch.arange(10), seed=3)
    first = torch.cat([source.draw(4)[1] for _ in range(5)])  # 20 = two passes
    assert sorted(first[:10].tolist()) == list(range(10))
    assert sorted(first[10:].tolist()) == list(range(10))
    again = engine.Shuffled(x, torch.arange(10), seed=3)
    assert torch.equal(torch.cat([again.draw(4)[1] for _ in range(5)]), first)
    with pytest.raises(ValueError, match="as many labels"):
        engine.Shuffled(x, torch.arange(3), seed=0)


def test_phase_over_data_resolves_to_steps():
    phase = Phase(epochs=3, batch_size=64, lr=0.1, select_every=2, over_data=True)
    with pytest.raises(ValueError, match="resolve"):
        _ = phase.steps
    steps = phase.resolve(1257)  # 20 steps per pass
    assert steps.steps == 60 and steps.select_every == 40 and not steps.over_data
    assert Phase(epochs=5, batch_size=1, lr=1.0).resolve(None).steps == 5


@pytest.mark.parametrize("name", ["digits", "mnist1d", "mnist"])
def test_chip_mapping_matches_the_macs_that_run(monkeypatch, name):
    """The mapping's matrix and rows per sample are those of the matmuls the model runs."""
    from frontend.perceptron import conv, nn

    job = jobs.get(name)
    calls = []
    real_conv, real_linear = conv.matmul, nn.matmul

    def spy(real):
        def wrapped(x, w, *args, **kwargs):
            calls.append((x.shape[:-1].numel(), tuple(w.shape)))
            return real(x, w, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(conv, "matmul", spy(real_conv))
    monkeypatch.setattr(nn, "matmul", spy(real_linear))
    model = job.model("mock")  # Linear binds matmul when it is made
    table = engine.chip_mapping(model, job.input_shape)
    calls.clear()
    engine.predict(model, torch.zeros((3,) + job.input_shape))
    assert [(3 * t["rows_per_sample"], tuple(t["matrix"])) for t in table] == calls
    for t in table:
        k, n = t["matrix"]
        assert t["macs_per_sample"] == t["rows_per_sample"] * k * n
        assert t["tiles"] == -(-k // 128) * -(-n // 256)
    assert job.model("float")(torch.zeros((2,) + job.input_shape)).shape == (2, 10)


def test_selection_keeps_the_initial_state_when_training_only_hurts():
    x = torch.eye(2).repeat(8, 1)
    right, wrong = torch.arange(2).repeat(8), 1 - torch.arange(2).repeat(8)
    for select_initial in (False, True):
        model = torch.nn.Linear(2, 2)
        with torch.no_grad():
            model.weight.copy_(torch.eye(2))
            model.bias.zero_()
        phase = Phase(epochs=3, batch_size=16, lr=1.0, select_every=1,
                      select_initial=select_initial)
        history = engine.train_phase(model, phase, engine.Shuffled(x, wrong, 0), "t",
                                     (x, right), progress=False)
        kept = torch.equal(model.weight.detach(), torch.eye(2))
        assert kept == select_initial
        assert [step for step, _ in history.validation] == [0, 1, 2, 3][1 - select_initial:]


def test_confusion_matrix():
    m = engine.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_mnist_job_end_to_end_through_the_cli(tmp_path, capsys):
    """A tiny run of the whole pipeline: float, mock, transfer, hardware (uncalibrated chip 1:
    test_yinyang covers the calibration step)."""
    write_idx(tmp_path / "data", gz=True, n_train=96, n_test=20)
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["train", "mnist", "--data-path", str(tmp_path / "data"),
                         "--recipe", "quick", "--mock-epochs", "1", "--hardware-epochs", "1",
                         "--seed", "1", "--uncalibrated", "--chip-id", "1", "-o", str(out),
                         "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "after the hardware phase" in text and "float model" in text
    s = json.loads((out / "summary.json").read_text())
    for key in ("accuracy_float", "accuracy_mock", "accuracy_transfer", "accuracy_hardware"):
        assert 0 <= s[key] <= 1, key
    assert s["job"] == "mnist" and s["recipe"] == "quick" and not s["calibrated"]
    assert s["split"]["sizes"] == {"train": 88, "validation": 8, "test": 20}
    assert s["mock_phase"]["steps"] == 1 and s["hardware_phase"]["steps"] == 1
    assert s["float_phase"]["steps"] == 1 and s["float_phase"]["lr"] == 3e-3
    # the modelled chip time of the test set's programs, per image: microseconds to ms
    assert 1e-6 < s["chip_time_per_sample_s"] < 1e-2
    assert s["macs_per_sample"] == sum(t["macs_per_sample"] for t in s["chip_mapping"])
    assert np.sum(s["confusion_matrix"]) == 20 and s["confusion_of"] == "hardware"
    assert sorted(s["files"]) == ["confusion.png", "misclassified.png", "training.png"]
    for name in s["files"]:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_mock_only_yinyang_on_the_ideal_chip(tmp_path):
    s = engine.run(jobs.get("yinyang"), engine.Options(
        recipe="seed", chip_id="ideal", uncalibrated=True, mock_epochs=3, mock_only=True,
        float_baseline=False, output=str(tmp_path), progress=False))
    assert s["accuracy_transfer"] is None and s["accuracy_hardware"] is None
    assert s["hardware_phase"] is None and s["chip_time_per_sample_s"] is None
    assert s["accuracy_float"] is None and s["mock_phase"]["steps"] == 4
    assert s["confusion_of"] == "mock"
    assert sorted(s["files"]) == ["confusion.png", "misclassified.png", "training.png"]


def test_train_rejects_bad_options(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "cifar"])
    assert e.value.code == 2
    assert cli.main(["train", "digits", "--recipe", "seed", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown recipe 'seed' for job 'digits'" in err and "'quick'" in err
    assert not (tmp_path / "summary.json").exists()
    assert cli.main(["train", "mnist", "--data-path", str(tmp_path), "--quiet"]) == 2
    assert "no MNIST files found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "digits", "--chip-id", "-1"])


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_saturating_relu_keeps_the_forward_and_stops_the_gradient_at_31(shift):
    limit = 32 * 2 ** shift
    x = torch.tensor([-5.0, 0.0, 3.0, limit - 1.0, limit, limit + 7.0, 127.0],
                     requires_grad=True)
    ops = jobs.perceptron.nn.ConvertingReLU(shift=shift, mock=True)
    ours = jobs.SaturatingReLU(shift=shift, mock=True)
    assert torch.equal(ours(x), ops(x.detach()))
    ours(x).sum().backward()
    expected = ((x > 0) & (x < limit)).float() / 2 ** shift
    assert torch.equal(x.grad, expected)
    # the op itself passes the gradient through the clamp
    y = x.detach().clone().requires_grad_(True)
    ops(y).sum().backward()
    assert y.grad[-1] > 0
