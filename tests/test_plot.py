"""``Metric.plot()`` and ``MetricSet.plot()`` draw what the value is: curves, heatmaps,
bars with a binned value's bound, a line of per-step values."""

from __future__ import annotations

import numpy as np
import pytest

from gpumetrics import metrics as M

pytest.importorskip("matplotlib")
rng = np.random.default_rng(0)
Y = rng.integers(0, 3, 300)
S = rng.random((300, 3))
S[np.arange(300), Y] += 0.5


def test_curves_are_drawn_as_curves_on_named_axes():
    roc, pr = M.ROCCurve(), M.PRCurve()
    for m in (roc, pr):
        m.update(Y == 1, S[:, 1])
    fig, ax = roc.plot()
    fpr, tpr, _ = roc.compute()
    (chance, curve) = ax.get_lines()
    np.testing.assert_array_equal(curve.get_xdata(), fpr)
    np.testing.assert_array_equal(curve.get_ydata(), tpr)
    assert ax.get_xlabel() == "false positive rate" and ax.get_title() == "roc_curve"
    _, ax = pr.plot()
    precision, recall, _ = pr.compute()
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), recall)
    assert ax.get_ylabel() == "precision"


def test_a_confusion_matrix_is_a_heatmap_with_its_counts():
    m = M.ConfusionMatrix("multiclass", num_classes=3)
    m.update(Y, S)
    fig, ax = m.plot()
    (image,) = ax.get_images()
    np.testing.assert_array_equal(image.get_array(), m.compute())
    assert sorted(int(t.get_text()) for t in ax.texts) == sorted(m.compute().ravel().tolist())


def test_values_bars_bounds_and_steps_on_a_given_axes():
    from matplotlib.figure import Figure

    torch = pytest.importorskip("torch")
    per_class = M.F1Score("multiclass", num_classes=3, average=None)
    per_class.update(torch.from_numpy(Y), torch.from_numpy(S))  # torch values plot too
    _, ax = per_class.plot()
    assert len(ax.patches) == 3
    binned = M.AUROC("binary", thresholds=32)
    binned.update(Y == 1, S[:, 1])
    target = Figure().add_subplot()
    fig, ax = binned.plot(ax=target)
    assert ax is target and fig is target.figure
    (bar,) = ax.patches
    assert bar.get_height() == pytest.approx(float(binned.compute().value))
    assert ax.containers[0].has_yerr  # the bound as a whisker
    _, ax = M.Accuracy().plot([0.5, 0.6, 0.7])
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [0.5, 0.6, 0.7])


def test_a_set_plots_its_scalars():
    ms = M.MetricSet({"acc": M.Accuracy("multiclass", num_classes=3),
                      "auc": M.AUROC("multiclass", num_classes=3, thresholds=16),
                      "cm": M.ConfusionMatrix("multiclass", num_classes=3)})
    ms.update(Y, S)
    _, ax = ms.plot()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["acc", "auc"]
    with pytest.raises(ValueError, match="no scalar metric"):
        M.MetricSet({"cm": M.ConfusionMatrix("binary")}).plot({"cm": np.eye(2)})
    with pytest.raises(ValueError, match="values must be a dict"):
        ms.plot([ms.compute(), ms.compute()])


def test_a_list_is_numbers_per_step_only():
    roc = M.ROCCurve()
    roc.update(Y == 1, S[:, 1])
    with pytest.raises(ValueError, match="one roc_curve per step"):
        roc.plot([roc.compute(), roc.compute()])
    with pytest.raises(ValueError, match="each a number"):
        M.F1Score("multiclass", num_classes=3, average=None).plot([np.ones(3), np.ones(3)])
