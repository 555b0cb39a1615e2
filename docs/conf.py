"""Sphinx configuration of the skvae documentation.

Build the HTML offline, warnings as errors, from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery (docs/examples/) runs while the docs build; its output goes to
docs/auto_examples/, the API pages to docs/generated/ (both git-ignored).
"""

import os

# The gallery trains small models in this process. For them one CPU thread is
# about as fast as several on an idle machine, and many times faster on a busy
# one, where threads that wait for each other are descheduled (we saw a
# 15-minute build instead of 2 on 2 shared cores). Thread pools read these
# variables when they load, so set them before anything imports numpy or torch;
# a value already in the environment wins.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import re  # noqa: E402
import sys  # noqa: E402

import skvae  # noqa: E402

# The gallery's sort order lives in a small module next to this file.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_sphinxext"))

project = "skvae"
author = "the skvae developers"
copyright = "the skvae developers"
version = release = skvae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples"]
default_role = "literal"

# --- API reference ---------------------------------------------------------------
autosummary_generate = True
# The class template lists each method itself; numpydoc's own table of members
# would point at pages that do not exist.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# No intersphinx: the build must work offline. References to scikit-learn and
# torch objects render as code, without links.


# scikit-learn's docstring convention writes shapes such as
# "(n_features_in_,)"; in reST a word ending in "_" is a link to a target of
# that name, which does not exist. Render such names in shapes as code instead.
_SHAPE = re.compile(r"shape \(([^)]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")


def _quote_shape_attributes(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        lines[i] = _SHAPE.sub(
            lambda match: (
                "shape (" + _TRAILING_UNDERSCORE.sub(r"``\1``", match.group(1)) + ")"
            ),
            line,
        )


def setup(app):
    app.connect("autodoc-process-docstring", _quote_shape_attributes, priority=400)


# --- Gallery -----------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "doc_module": ("skvae",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skvae": None},
    "download_all_examples": False,
    "show_memory": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib", "seaborn"),
    "min_reported_time": 1,
    # Show what examples print, not the repr of their last expression.
    "capture_repr": (),
    # No sg_execution_times.rst in the source tree; the build log has the times.
    "write_computation_times": False,
}

# --- HTML --------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skvae {release}"
html_theme_options = {
    "show_prev_next": False,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
# Pages without sub-pages get no (empty) section navigation.
html_sidebars = {"index": [], "getting_started": [], "benchmarks": []}
