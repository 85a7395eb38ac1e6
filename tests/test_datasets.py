"""hxtorch.datasets.YinYangDataset: the tutorial's distribution, vectorised, canonical splits."""

import numpy as np
import pytest
import torch

from frontend.datasets import YinYangDataset, canonical_split, yin_yang_class


def test_samples_follow_the_distribution():
    ds = YinYangDataset(seed=3)
    x, y = ds.draw(30000)
    assert x.shape == (30000, 4) and x.dtype == torch.float32 and y.dtype == torch.int64
    a, b = x[:, 0].numpy(), x[:, 1].numpy()
    assert np.allclose(x[:, 2].numpy(), 1 - a) and np.allclose(x[:, 3].numpy(), 1 - b)
    assert (np.hypot(a - 0.5, b - 0.5) <= 0.5 + 1e-6).all()
    assert (yin_yang_class(a, b) == y.numpy()).all()
    counts = np.bincount(y.numpy(), minlength=3) / 30000
    assert np.allclose(counts, 1 / 3, atol=0.015)  # balanced by rejection sampling


def test_redrawn_on_access_and_seeded():
    a, b = YinYangDataset(seed=5, size=10), YinYangDataset(seed=5, size=10)
    assert torch.equal(a.draw(50)[0], b.draw(50)[0])
    x1, _ = a[0]
    x2, _ = a[0]
    assert not torch.equal(x1, x2)  # a fresh sample on every access
    assert len(a) == 10
    with pytest.raises(IndexError):
        a[10]
    loader = torch.utils.data.DataLoader(YinYangDataset(size=64), batch_size=32)
    assert [tuple(batch[0].shape) for batch in loader] == [(32, 4), (32, 4)]


def test_canonical_splits_are_fixed():
    for name, size in (("train", 5000), ("validation", 1000), ("test", 1000)):
        x, y = canonical_split(name)
        assert x.shape == (size, 4) and y.shape == (size,)
        x2, _ = canonical_split(name)
        assert torch.equal(x, x2)
    assert not torch.equal(canonical_split("validation")[0], canonical_split("test")[0])
    with pytest.raises(ValueError, match="unknown split"):
        canonical_split("dev")


def test_bad_parameters_and_the_hxtorch_name():
    with pytest.raises(ValueError):
        YinYangDataset(r_small=0.6, r_big=0.5)
    import hxtorch.datasets

    assert hxtorch.datasets.YinYangDataset is YinYangDataset
