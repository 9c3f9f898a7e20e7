"""Warning classes."""


class UndefinedMetricWarning(UserWarning):
    """A metric is ill-defined for the given data (for example 0/0) and was set to a
    replacement value; scikit-learn emits a warning of the same name in the same cases."""
