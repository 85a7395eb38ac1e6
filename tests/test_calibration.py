"""HAGEN calibration: the targets of docs/calibration.md on two chips, through the public
path; saved calibrations; the search pieces."""

import warnings

import numpy as np
import pytest

from driver import EmulatorConnection
from driver.calibration import (
    CalibrationMismatchWarning,
    CalibrationTarget,
    RangeLimitWarning,
    apply_calibration,
    binary_search,
    calibrate,
    linear_prediction,
    noisy_binary_search,
    summary,
)
from driver.cocolist_file import load_cocolist
from driver.mac import MAC

CHIPS = (0, 1)


@pytest.fixture(scope="module", params=CHIPS)
def calibrated(request):
    conn = EmulatorConnection(request.param, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RangeLimitWarning)  # a few drivers may hit a limit
        result = calibrate(conn)
    return request.param, conn, result


def test_calibrated_chip_meets_the_table(calibrated):
    _, _, result = calibrated
    after = result.summary["after"]
    assert after["gain_cv"] <= 0.03
    assert 0.0015 <= after["gain_median"] <= 0.0035
    assert after["resting_within_2"] >= 0.95
    assert abs(after["resting_read_median"] - 120) <= 1
    assert after["driver_mismatch"] < 2.0


def test_without_calibration_the_chip_fails_the_table(calibrated):
    before = calibrated[2].summary["before"]
    assert before["gain_cv"] > 0.03
    assert before["resting_within_2"] < 0.95
    assert before["driver_mismatch"] > 2.0


def test_calibrated_noise_and_linearity(calibrated):
    _, conn, _ = calibrated
    ideal, means, stds = [], [], []
    for w in (21, -21, 40, -40):
        mac = MAC(np.full((128, 256), w))
        for a in range(0, 32, 3):
            y = mac.run(np.full((16, 128), a), conn).astype(np.float64)
            ideal.append(a * w * 128 / 500)
            means.append(y.mean(axis=0))
            stds.append(y.std(axis=0))
    ideal, means, stds = np.array(ideal), np.array(means), np.array(stds)
    noise = np.median(stds[np.abs(ideal) < 60])
    assert 1.0 <= noise <= 2.5
    lin = np.abs(ideal) <= 80
    residuals = [np.abs(np.polyval(np.polyfit(ideal[lin], means[lin, n], 1), ideal[lin])
                        - means[lin, n]).max() for n in range(256)]
    assert max(residuals) < 3.0
    # compressive and neuron-specific beyond: at the largest ideal output (4 * 80)
    top = means[np.argmax(ideal)]
    assert top.max() - top.min() > 3 and (top < ideal.max()).all()


def test_saved_calibration_reproduces_on_a_fresh_connection(calibrated, tmp_path):
    chip, _, result = calibrated
    path = tmp_path / "hagen_cocolist.pbin"
    result.to_cocolist().save(path, {"chip_id": chip, "model_version": 1})
    cocolist, meta = load_cocolist(path)
    fresh = EmulatorConnection(chip, seed=99)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationMismatchWarning)
        apply_calibration(fresh, cocolist, meta)
    s = summary(fresh, CalibrationTarget())
    assert s["gain_cv"] <= 0.03 and s["resting_within_2"] >= 0.95
    assert s["driver_mismatch"] < 2.0
    other = EmulatorConnection(chip + 5, seed=1)
    with pytest.warns(CalibrationMismatchWarning, match=f"chip_id {chip}"):
        apply_calibration(other, cocolist, meta)


def test_the_ideal_chip_is_not_calibrated():
    with pytest.raises(ValueError, match="nothing to calibrate"):
        calibrate(EmulatorConnection("ideal"))


# --- search pieces -----------------------------------------------------------------------------

def test_binary_search_reaches_every_instance_at_once():
    rng = np.random.default_rng(0)
    slope = rng.uniform(0.5, 2.0, 300)
    offset = rng.uniform(-100, 100, 300)
    calls = []

    def measure(s):
        calls.append(1)
        return slope * s + offset

    target = 300.0
    r = binary_search(measure, target, 0, 1022, 300, tolerance=2.0)
    assert r.success.all()
    assert np.all(np.abs(slope * r.settings + offset - target) <= 2.0)
    assert len(calls) <= 12  # log2(1023) + 1 rounds for all 300 instances together


def test_binary_search_decreasing_and_range_limits_warn():
    def measure(s):
        return -np.asarray(s, dtype=float) + np.array([500, 5000, -10])

    with pytest.warns(RangeLimitWarning, match=r"2 instance\(s\) hit the range limit: 1, 2"):
        r = binary_search(measure, 0.0, 0, 1022, 3, increasing=False, tolerance=1.0)
    assert list(r.success) == [True, False, False]
    assert r.settings[0] == 500


def test_noisy_binary_search_averages_more_at_the_end():
    rng = np.random.default_rng(1)
    used = []

    def measure(s, repeats):
        used.append(repeats)
        noise = rng.normal(0, 4, (repeats, s.size)).mean(axis=0)
        return 0.5 * s + noise

    r = noisy_binary_search(measure, 200.0, 0, 1022, 64, repeats=(2, 32), tolerance=3.0)
    assert used[0] == 2 and used[-1] >= 16
    assert np.median(np.abs(0.5 * r.settings - 200)) < 2


def test_linear_prediction_proportional_and_slope():
    k = np.linspace(0.5, 1.5, 50)
    r = linear_prediction(lambda s: k * s, 300.0, np.full(50, 450), 1, 1022,
                          proportional=True, iterations=2, tolerance=1.0)
    assert r.success.all()
    r = linear_prediction(lambda s: 2 * s - k * 100, 500.0, np.full(50, 200), 0, 1022,
                          iterations=2, tolerance=1.0)
    assert r.success.all()
    with pytest.warns(RangeLimitWarning):
        linear_prediction(lambda s: 0.01 * s, 500.0, np.full(5, 100), 0, 1022,
                          proportional=True)


def test_cli_calibrate_writes_a_loadable_file(tmp_path, capsys):
    from frontend import cli

    out = tmp_path / "hagen_cocolist.pbin"
    assert cli.main(["calibrate", "--chip-id", "1", "-o", str(out), "--quiet",
                     "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert "per-neuron gain CV" in text and "driver mismatch" in text
    cocolist, meta = load_cocolist(out)
    assert meta["chip_id"] == 1 and meta["kind"] == "hagen" and len(cocolist) > 1000
    assert cli.main(["calibrate", "--chip-id", "ideal", "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to calibrate" in err


def test_default_calibration_is_cached_per_chip_and_model(tmp_path, monkeypatch):
    from driver.calibration import default_calibration

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RangeLimitWarning)
        path, cc, meta = default_calibration(2)
    assert path.is_relative_to(tmp_path) and "chip-2" in str(path) and "model-" in str(path)
    stamp = path.stat().st_mtime_ns
    path2, cc2, meta2 = default_calibration(2)
    assert path2 == path and path.stat().st_mtime_ns == stamp  # not recomputed
    assert cc2 == cc and meta2 == meta
    assert meta["summary"]["after"]["gain_cv"] <= 0.03
    with pytest.raises(ValueError, match="ideal"):
        default_calibration("ideal")
