"""The order of the examples in the gallery: a reading order, not the alphabet."""

ORDER = [
    "plot_gaussian_vae_digits.py",
    "plot_latent_size_selection.py",
    "plot_vae_features_classifier.py",
    "plot_compare_estimators.py",
    "plot_missing_digits.py",
]


class ExampleOrder:
    """Sort key for sphinx-gallery's ``within_subsection_order``.

    Examples not listed come last, in alphabetical order.
    """

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (ORDER.index(filename), filename)
        return (len(ORDER), filename)

    def __repr__(self):
        return f"<{type(self).__name__}>"
