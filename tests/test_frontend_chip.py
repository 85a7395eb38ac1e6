"""The frontend on emulated (non-ideal) chips: measure_mock_parameter, the diagonal test of the
original hxtorch, hardware-mode gradients, and the seed tutorial's workflow at reduced size."""

import logging
import warnings

import numpy as np
import pytest
import torch

import hxtorch
from driver.calibration import default_calibration
from hxtorch import perceptron as hxp


@pytest.fixture(autouse=True)
def clean_state():
    hxp.set_mock_parameter(hxp.MockParameter())
    yield
    hxtorch.release_hardware()
    hxp.set_mock_parameter(hxp.MockParameter())


def test_measure_mock_parameter_on_the_ideal_chip(caplog):
    torch.manual_seed(0)
    hxtorch.init_hardware(chip_id="ideal")
    with caplog.at_level(logging.INFO, logger="hxtorch"):
        p = hxp.measure_mock_parameter()
    # 15.5 is sent as 16 but compared with 15.5: 32/31 of the gain, less the floor's bias
    assert 0.00195 < p.gain < 0.002 * 32 / 31
    assert 0 < p.noise_std < 1
    assert hxp.get_mock_parameter() == hxp.MockParameter()  # the global is not set
    assert "Obtained gain=" in caplog.text and "at output=" in caplog.text
    assert any(r.name == "hxtorch.perceptron.measure_mock_parameter" for r in caplog.records)


def test_measure_mock_parameter_on_an_uncalibrated_chip():
    torch.manual_seed(1)
    hxtorch.init_hardware(chip_id=0, seed=1)
    p = hxp.measure_mock_parameter()
    assert 0.001 < p.gain < 0.004 and p.noise_std > 0
    hxp.set_mock_parameter(p)  # usable as the mock parameter


@pytest.fixture(scope="module")
def calibration_file(private_calibration_cache):
    """chip 0's default calibration, created in a private cache (about 5 s), and its path."""
    with warnings.catch_warnings():  # the calibration's own diagnostics are not tested here
        warnings.simplefilter("ignore")
        path, _, _ = default_calibration(0)
    return path


def test_ann_true_loads_the_calibration_and_init_keeps_it(calibration_file):
    torch.manual_seed(4)
    hxtorch.init_hardware(ann=True, chip_id=0, seed=4)  # from the cache the fixture filled
    calibrated = hxp.measure_mock_parameter()
    hxtorch.init_hardware(chip_id=0, seed=4)  # no argument: the calibration stays
    torch.manual_seed(4)
    again = hxp.measure_mock_parameter()
    assert 0.0015 < calibrated.gain < 0.0035 and 0.5 < calibrated.noise_std < 4
    assert abs(again.gain - calibrated.gain) < 0.1 * calibrated.gain
    hxtorch.init_hardware_minimal(chip_id=0, seed=4)  # uncalibrated again
    torch.manual_seed(4)
    assert hxp.measure_mock_parameter().gain != calibrated.gain


def test_measure_mock_parameter_needs_a_connection():
    with pytest.raises(RuntimeError, match=r"^No connection allocated\.$"):
        hxp.measure_mock_parameter()


def test_diagonal_on_the_emulated_chip():
    """hxtorch's test_diagonal: 128 x 512 weights, +-63 on the diagonal of one 128-column block
    at a time; identity inputs x 31, num_sends 40, wait 2."""
    hxtorch.init_hardware(chip_id=0, seed=2)
    rng = np.random.default_rng(2)
    x = torch.eye(128) * 31
    for block in range(4):
        sign = torch.from_numpy(rng.choice([-1.0, 1.0], 128).astype(np.float32))
        w = torch.zeros(128, 512)
        idx = torch.arange(128)
        w[idx, 128 * block + idx] = 63 * sign
        y = hxp.matmul(x, w, num_sends=40, wait_between_events=2)
        assert y.shape == (128, 512)
        big = y.abs() > 40
        expected = torch.zeros(128, 512, dtype=torch.bool)
        expected[idx, 128 * block + idx] = True
        assert torch.equal(big, expected), block
        assert torch.equal(torch.sign(y[idx, 128 * block + idx]), sign)


def test_hardware_mode_on_a_real_chip_shapes_and_gradients():
    hxtorch.init_hardware(chip_id=3, seed=3)
    hxp.set_mock_parameter(hxp.MockParameter(gain=0.0021))
    x = (torch.rand(2, 3, 40) * 31).requires_grad_()
    w = ((torch.rand(40, 5) - 0.5) * 120).requires_grad_()
    y = hxp.matmul(x, w, num_sends=4)
    assert y.shape == (2, 3, 5) and y.dtype == torch.float32
    assert torch.equal(y, y.round()) and y.abs().max() <= 128
    g = torch.randn(y.shape)
    y.backward(g)
    x2, w2 = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    torch.matmul(x2, w2).backward(g)
    torch.testing.assert_close(x.grad, x2.grad * 0.0021 * 4, rtol=1e-3, atol=1e-6)
    torch.testing.assert_close(w.grad, w2.grad * 0.0021 * 4, rtol=1e-3, atol=1e-6)
    # roughly the linear model: correlation of the chip's outputs with the exact product
    ref = (torch.matmul(x2.detach().round(), w2.detach().round()) * 4 * 0.002).flatten()
    assert np.corrcoef(ref.numpy(), y.detach().flatten().numpy())[0, 1] > 0.8


# -- the seed tutorial ("Train DNNs on BrainScaleS-2"), model code unchanged -------------------

class YinYangDataset(torch.utils.data.dataset.Dataset):
    """The tutorial's dataset, verbatim."""

    def __init__(self, r_small=0.1, r_big=0.5, size=1000, seed=42):
        super(YinYangDataset, self).__init__()  # noqa: UP008 - as in the tutorial
        self.rng = np.random.RandomState(seed)
        self.r_small = r_small
        self.r_big = r_big
        self.size = size

    def get_sample(self, goal=None):
        found_sample_yet = False
        while not found_sample_yet:
            x, y = self.rng.rand(2) * 2. * self.r_big
            if np.sqrt((x - self.r_big)**2 + (y - self.r_big)**2) > self.r_big:
                continue
            c = self.which_class(x, y)
            if goal is None or c == goal:
                found_sample_yet = True
                break
        return x, y, c

    def which_class(self, x, y):
        d_right = self.dist_to_right_dot(x, y)
        d_left = self.dist_to_left_dot(x, y)
        criterion1 = d_right <= self.r_small
        criterion2 = d_left > self.r_small and d_left <= 0.5 * self.r_big
        criterion3 = y > self.r_big and d_right > 0.5 * self.r_big
        is_yin = criterion1 or criterion2 or criterion3
        is_circles = d_right < self.r_small or d_left < self.r_small
        if is_circles:
            return 2
        return int(is_yin)

    def dist_to_right_dot(self, x, y):
        return np.sqrt((x - 1.5 * self.r_big)**2 + (y - self.r_big)**2)

    def dist_to_left_dot(self, x, y):
        return np.sqrt((x - 0.5 * self.r_big)**2 + (y - self.r_big)**2)

    def __getitem__(self, index):
        goal_class = self.rng.randint(3)
        x, y, c = self.get_sample(goal=goal_class)
        sample = (torch.tensor([x, y, 1-x, 1-y], dtype=torch.float), c)
        return sample

    def __len__(self):
        return self.size


def test_train_epoch(model, loader, optimizer):
    """The tutorial's training step, verbatim (not a test: pytest skips it, see below)."""
    import torch.nn.functional as F

    gridsize = 16
    x = y = torch.linspace(0, 1, gridsize)
    x, y = torch.meshgrid(x, y, indexing="ij"); x, y = x.flatten(), y.flatten()  # noqa: E702
    data_test = torch.tensor(list(zip(x, y, 1-x, 1-y)), requires_grad=True)
    data, target = next(iter(loader))
    data = torch.cat((data_test, data))
    model.train()
    optimizer.zero_grad()
    output = model(data)
    loss = F.cross_entropy(output[len(data_test):], target)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        output_test = F.softmax(output[:len(data_test)], dim=-1)
    output_test = output_test.reshape(gridsize, gridsize, -1)
    return torch.transpose(output_test, 0, 1)


test_train_epoch.__test__ = False  # the tutorial's name starts with "test"


class Model(torch.nn.Module):
    """The tutorial's model, verbatim."""

    def __init__(self, mock: bool = False):
        super().__init__()
        self.classifier = torch.nn.Sequential(
            hxtorch.perceptron.nn.Linear(4, 128, mock=mock),
            hxtorch.perceptron.nn.ConvertingReLU(shift=1),
            hxtorch.perceptron.nn.Linear(128, 3, avg=5, mock=mock),
        )

    def forward(self, *x):
        x = x[0] * 31.  # scale to the whole input range
        x = self.classifier(x)
        return x


def accuracy(model, n=600):
    data, target = next(iter(torch.utils.data.DataLoader(YinYangDataset(size=n, seed=7),
                                                         batch_size=n)))
    with torch.no_grad():
        return (hxp.argmax(model(data), 1, mock=True) == target).float().mean().item()


def test_seed_tutorial_workflow_at_reduced_size(calibration_file, monkeypatch):
    torch.manual_seed(0)
    monkeypatch.delenv("HXEMU_CHIP_ID", raising=False)  # chip 0
    monkeypatch.setenv("HXEMU_SEED", "0")
    # the tutorial's lines, with the saved "nightly" calibration of chip 0
    hxtorch.init_hardware(hxtorch.CalibrationPath(str(calibration_file)))
    hardware_parameter = hxtorch.perceptron.measure_mock_parameter()
    assert hardware_parameter.gain > 0 and hardware_parameter.noise_std > 0
    hxtorch.perceptron.set_mock_parameter(hardware_parameter)

    model_mock = Model(mock=True)
    assert "mock=True" in repr(model_mock) and "avg=5" in repr(model_mock)
    batch_size, lr, gamma = 350, 1, 0.99
    loader = torch.utils.data.DataLoader(dataset=YinYangDataset(size=batch_size),
                                         batch_size=batch_size)
    scheduler = torch.optim.lr_scheduler.StepLR(
        torch.optim.Adam(model_mock.parameters(), lr=lr), step_size=1, gamma=gamma)
    before = accuracy(model_mock)
    for _ in range(40):
        out = test_train_epoch(model_mock, loader, scheduler.optimizer)
        scheduler.step()
    assert out.shape == (16, 16, 3)
    after_mock = accuracy(model_mock)
    assert after_mock > max(0.55, before)

    model_hw = Model(mock=False)
    model_hw.load_state_dict(model_mock.state_dict())
    scheduler_hw = torch.optim.lr_scheduler.StepLR(
        torch.optim.Adam(model_hw.parameters(), lr=0.2), step_size=1, gamma=0.9)
    for _ in range(2):
        test_train_epoch(model_hw, loader, scheduler_hw.optimizer)
        scheduler_hw.step()
    assert accuracy(model_hw) > 0.6
