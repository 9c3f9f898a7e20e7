"""Formulas: pure functions from the metrics' states to their values.

A function in ``gpumetrics.functional`` fills a state in one pass over its inputs and reads
it through these formulas; a streaming metric in ``gpumetrics.metrics`` accumulates the
same state over batches and reads it through the same formulas. One module per state:

* ``counts``: the confusion and multilabel-indicator states of classification;
* ``division``: scikit-learn's 0/0 rules (``zero_division``), its warnings and averages;
* ``confusion``: the confusion matrix, balanced accuracy, MCC and kappa of a confusion state;
* ``setwise``: per-label counts and the precision, recall, F-beta, Jaccard and specificity
  read from them;
* ``curves``: ROC, precision-recall and DET curves, AUC and average precision, exact or
  from a score histogram with its bound;
* ``moments``: the regression metrics of the moments state;
* ``losses``: the mean or sum of the loss sums.
"""
