"""hxtorch.perceptron.nn: reprs, initialisation and automatic num_sends, forward
math of every layer, transforms, avg, state_dict round trips between mock and hardware."""

import math

import pytest
import torch

import hxtorch
from hxtorch import perceptron as hxp
from hxtorch.perceptron import nn

GAIN = 0.002


@pytest.fixture(autouse=True)
def clean_state():
    hxp.set_mock_parameter(hxp.MockParameter())
    yield
    hxtorch.release_hardware()
    hxp.set_mock_parameter(hxp.MockParameter())


@pytest.fixture
def ideal():
    hxtorch.init_hardware(chip_id="ideal")
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=0, gain=GAIN))


def strip_addresses(text: str) -> str:
    import re

    return re.sub(r" at 0x[0-9a-f]+>", " at 0x...>", text)


# -- repr ----------------------------------------------------------------------------------------

def test_mnist_model_prints_as_in_the_spec():
    class Model(torch.nn.Module):
        def __init__(self, mock=True):
            super().__init__()
            self.features = torch.nn.Sequential(
                nn.Conv2d(1, 20, kernel_size=10, stride=5, bias=False, padding=1,
                          num_sends=None, wait_between_events=2, mock=mock,
                          input_transform=nn.scale_input),
                nn.ConvertingReLU(shift=1, mock=mock))
            self.classifier = torch.nn.Sequential(
                nn.Linear(500, 128, bias=False, num_sends=None, wait_between_events=2,
                          mock=mock),
                nn.ConvertingReLU(mock=mock, shift=1),
                nn.Linear(128, 10, bias=False, num_sends=None, wait_between_events=2,
                          mock=mock))

    assert strip_addresses(str(Model())) == """Model(
  (features): Sequential(
    (0): Conv2d(in_channels=1, out_channels=20, kernel_size=(10, 10), stride=(5, 5), \
padding=(1, 1), dilation=(1, 1), bias=None, num_sends=7, wait_between_events=2, mock=True, \
input_transform=<function scale_input at 0x...>)
    (1): ConvertingReLU(shift=1, mock=True)
  )
  (classifier): Sequential(
    (0): Linear(in_features=500, out_features=128, bias=None, num_sends=4, \
wait_between_events=2, mock=True)
    (1): ConvertingReLU(shift=1, mock=True)
    (2): Linear(in_features=128, out_features=10, bias=None, num_sends=6, \
wait_between_events=2, mock=True)
  )
)"""


class YinYang(torch.nn.Module):
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


def test_yin_yang_model_prints_as_in_the_spec():
    assert str(YinYang(mock=True)) == """YinYang(
  (classifier): Sequential(
    (0): Linear(in_features=4, out_features=128, num_sends=34, mock=True)
    (1): ConvertingReLU(shift=1)
    (2): Linear(in_features=128, out_features=3, num_sends=6, mock=True, avg=5)
  )
)"""
    assert str(YinYang().classifier[0]) == "Linear(in_features=4, out_features=128, num_sends=34)"


def test_small_reprs():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.ReLU(mock=True)) == "ReLU(mock=True)"
    assert repr(nn.ConvertingReLU()) == "ConvertingReLU()"
    assert repr(nn.ConvertingReLU(shift=1)) == "ConvertingReLU(shift=1)"
    assert repr(nn.ConvertingReLU(shift=1, mock=True)) == "ConvertingReLU(shift=1, mock=True)"
    assert repr(nn.ExpandedConv1d(1, 14, 43, stride=2)) == (
        "ExpandedConv1d(in_channels=1, out_channels=14, kernel_size=(43,), stride=(2,), "
        "padding=(0,), dilation=(1,), num_sends=11, num_expansions=18)")
    assert repr(nn.Conv1d(1, 2, 3)) == ("Conv1d(in_channels=1, out_channels=2, kernel_size=(3,), "
                                        "stride=(1,), padding=(0,), dilation=(1,), num_sends=39)")
    lam = lambda x: x  # noqa: E731
    text = strip_addresses(repr(nn.Linear(19, 2, num_sends=3, wait_between_events=10, mock=True,
                                          input_transform=lam, weight_transform=lam)))
    assert text == ("Linear(in_features=19, out_features=2, num_sends=3, wait_between_events=10, "
                    "mock=True, input_transform=<function test_small_reprs.<locals>.<lambda> at "
                    "0x...>, weight_transform=<function test_small_reprs.<locals>.<lambda> at "
                    "0x...>)")


# -- initialisation -------------------------------------------------------------------------------

@pytest.mark.parametrize("fan_in,num_sends", [(3, 39), (4, 34), (19, 16), (43, 11), (100, 7),
                                              (128, 6), (256, 5), (500, 4), (784, 3)])
def test_auto_num_sends(fan_in, num_sends):
    assert nn.Linear(fan_in, 5).num_sends == num_sends
    assert nn.Conv1d(1, 2, fan_in).num_sends == num_sends


def test_num_sends_follows_the_global_gain_at_construction():
    hxp.set_mock_parameter(hxp.MockParameter(gain=0.0035))
    assert nn.Linear(4, 128).num_sends == 20  # the tutorial's recorded value
    assert nn.Linear(128, 3).num_sends == 4
    assert nn.Linear(4, 128, num_sends=2).num_sends == 2
    with pytest.raises(ValueError):
        nn.Linear(4, 3, num_sends=0)


def test_initialisation_distribution():
    torch.manual_seed(0)
    layer = nn.Linear(128, 256)
    gain_tot = 2 * math.sqrt(2) / GAIN
    std = gain_tot / math.sqrt(128) / layer.num_sends
    w = layer.weight.detach()
    assert w.abs().max() <= 63
    assert abs(w.std().item() - std) < 0.1 * std
    bound = gain_tot / math.sqrt(128) / (31 / math.sqrt(3))
    assert layer.bias.abs().max() <= bound and layer.bias.abs().max() > 0.8 * bound
    conv = nn.Conv2d(2, 3, (3, 4), bias=False)
    assert conv.bias is None and conv.num_sends == math.ceil(gain_tot / math.sqrt(24) / 21)
    n = layer.num_sends
    layer.reset_parameters(relu_shift=2)  # keeps num_sends
    assert layer.num_sends == n


# -- helpers ---------------------------------------------------------------------------------------

def test_transforms():
    x = torch.tensor([[0., 2., 4.], [1., 1., 1.]], requires_grad=True)
    y = nn.scale_input(x)
    assert torch.allclose(y, x.detach() * 31 / 4)
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 31 / 4))
    assert torch.equal(nn.scale_input(torch.zeros(3) - 1), torch.zeros(3) - 1)
    w = torch.tensor([-2., 1., 0.5])
    assert torch.allclose(nn.scale_weight(w), w * 63 / 2)
    assert torch.equal(nn.scale_weight(torch.zeros(2)), torch.zeros(2))
    p = torch.nn.Parameter(torch.tensor([-100., 3., 70.]))
    out = nn.clamp_weight_(p)
    assert out is p and p.tolist() == [-63., 3., 63.]


# -- forward ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mock", [True, False])
def test_linear_forward_is_matmul_then_int8_add(ideal, mock):
    torch.manual_seed(1)
    layer = nn.Linear(20, 6, mock=mock, num_sends=3)
    x = torch.randint(0, 32, (5, 20)).float()
    w = nn.clamp_weight_(layer.weight.detach().clone())
    want = hxp.add(hxp.matmul(x, w.t(), num_sends=3, mock=True), layer.bias.detach(), mock=True)
    assert torch.equal(layer(x), want)
    assert layer(x[0]).shape == (6,)
    assert layer(x.reshape(5, 1, 20)).shape == (5, 1, 6)


@pytest.mark.parametrize("mock", [True, False])
def test_linear_avg(ideal, mock):
    torch.manual_seed(2)
    layer = nn.Linear(10, 3, bias=False, avg=4, num_sends=5, mock=mock)
    x = torch.randint(0, 32, (7, 10)).float()
    wide = hxp.matmul(x, layer.weight.detach().t().repeat_interleave(4, -1), num_sends=5,
                      mock=True)
    want = wide.reshape(7, 3, 4).mean(-1)
    assert torch.allclose(layer(x), want)
    assert torch.allclose(layer(x[0]), want[0])
    assert torch.allclose(layer(x.reshape(7, 1, 10)), want.reshape(7, 1, 3))  # >= 3D works
    with pytest.raises(ValueError):
        nn.Linear(3, 3, avg=0)


def test_linear_uses_the_replaceable_matmul():
    layer = nn.Linear(3, 2, bias=False, mock=True)
    calls = []

    def fake(input, other, **kwargs):
        calls.append(kwargs)
        return torch.zeros(input.shape[0], other.shape[1])

    layer._matmul = fake
    layer(torch.ones(4, 3))
    assert calls == [{"num_sends": layer.num_sends, "wait_between_events": 5, "mock": True}]


def test_transforms_are_applied_in_the_layers():
    seen = {}

    def input_transform(x):
        seen["input"] = x.clone()
        return x * 0 + 1

    def weight_transform(w):
        seen["weight"] = True
        return torch.ones_like(w)

    layer = nn.Linear(3, 2, bias=False, num_sends=50, mock=True,
                      input_transform=input_transform, weight_transform=weight_transform)
    hxp.set_mock_parameter(hxp.MockParameter(0, GAIN))
    assert layer(torch.full((1, 3), 9.)).tolist() == [[0., 0.]]  # floor(3 * 50 / 500)
    assert seen["weight"] and seen["input"].tolist() == [[9., 9., 9.]]
    layer = nn.Linear(3, 2, mock=True, weight_transform=None)
    with torch.no_grad():
        layer.weight.fill_(100.)
    with pytest.raises(OverflowError):  # no clamping without the default weight_transform
        layer(torch.ones(1, 3))


@pytest.mark.parametrize("mock", [True, False])
def test_conv_layers_forward(ideal, mock):
    torch.manual_seed(3)
    c1 = nn.Conv1d(2, 3, 4, stride=2, padding=1, num_sends=4, mock=mock)
    x1 = torch.randint(0, 32, (2, 2, 15)).float()
    want = hxp.conv1d(torch.nn.functional.pad(x1, (1, 1)), c1.weight.detach(),
                      c1.bias.detach(), stride=2, num_sends=4, mock=True)
    assert torch.equal(c1(x1), want)
    c2 = nn.Conv2d(1, 2, (3, 2), stride=(2, 1), padding=(1, 2), padding_mode="replicate",
                   num_sends=4, mock=mock, bias=False)
    x2 = torch.randint(0, 32, (1, 1, 7, 6)).float()
    padded = torch.nn.functional.pad(x2, (2, 2, 1, 1), mode="replicate")
    want = hxp.conv2d(padded, c2.weight.detach(), None, (2, 1), num_sends=4, mock=True)
    assert torch.equal(c2(x2), want)
    e = nn.ExpandedConv1d(2, 3, 4, stride=2, num_sends=4, mock=mock, num_expansions=5)
    x3 = torch.randint(0, 32, (2, 2, 40)).float()
    want = hxp.expanded_conv1d(x3, e.weight.detach(), e.bias.detach(), 2, num_expansions=5,
                               num_sends=4, mock=True)
    assert torch.equal(e(x3), want)  # the expansion really runs (a fix of the original)


def test_conv_layer_restrictions():
    with pytest.raises(ValueError, match="^Dilations greater than 1 are currently not "
                       "supported.$"):
        nn.Conv1d(1, 1, 2, dilation=2, mock=True)(torch.ones(1, 1, 8))
    with pytest.raises(ValueError, match="^More than 1 group is currently not supported.$"):
        nn.Conv2d(2, 2, 2, groups=2, mock=True)(torch.ones(1, 2, 4, 4))


@pytest.mark.parametrize("mock", [True, False])
def test_relu_layers(ideal, mock):
    x = torch.tensor([[-5., 3.5, 200.]])
    assert nn.ReLU(mock=mock)(x).tolist() == [[0., 3., 127.]]
    assert nn.ConvertingReLU(shift=1, mock=mock)(x).tolist() == [[0., 1., 31.]]
    assert isinstance(nn.ConvertingReLU(), nn.ReLU) and isinstance(nn.ReLU(), torch.nn.ReLU)


# -- state_dict ------------------------------------------------------------------------------------

def test_state_dict_round_trip_mock_to_hardware_is_exact_on_the_ideal_chip(ideal):
    torch.manual_seed(4)
    model_mock = YinYang(mock=True)
    model_hw = YinYang(mock=False)
    model_hw.load_state_dict(model_mock.state_dict())
    x = torch.rand(50, 4)
    assert torch.equal(model_hw(x), model_mock(x))
    back = YinYang(mock=True)
    back.load_state_dict(model_hw.state_dict())
    assert torch.equal(back(x), model_mock(x))
    assert set(model_mock.state_dict()) == {"classifier.0.weight", "classifier.0.bias",
                                            "classifier.2.weight", "classifier.2.bias"}
    conv = nn.Conv2d(1, 2, 3, mock=True)
    plain = torch.nn.Conv2d(1, 2, 3)
    plain.load_state_dict(conv.state_dict())  # same parameters as torch's layer
    assert torch.equal(plain.weight, conv.weight)


def test_layer_gradients_flow_with_the_model():
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=1, gain=GAIN))
    layer = nn.Linear(8, 4, num_sends=3, mock=True)
    x = torch.rand(5, 8) * 31
    layer(x).sum().backward()
    w = layer.weight.detach().clamp(-63, 63)
    assert torch.allclose(layer.weight.grad, GAIN * 3 * torch.ones(5, 4).t() @ x, rtol=1e-4)
    assert torch.allclose(layer.bias.grad, torch.full((4,), 5.))  # add: straight through
    assert w.shape == (4, 8)
