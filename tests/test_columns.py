"""Per-column likelihoods: ``likelihood`` as (likelihood, columns) pairs or
'auto', resolved at fit into ``likelihoods_``, and one model of a mixed table."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

import skvae
from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE
from skvae._core.likelihoods import ColumnLikelihood

FAST = dict(
    hidden_layer_sizes=(8,),
    max_iter=3,
    n_importance_samples=4,
    device="cpu",
    random_state=0,
)
PLAN_BY_NAME = [
    ("gaussian", ["height"]),
    ("poisson", "visits"),
    ("lognormal", ["price"]),
    ("bernoulli", ["member"]),
    ("categorical", "colour"),
]
PLAN_BY_INDEX = [
    ("gaussian", [0]),
    ("poisson", 1),
    ("lognormal", [2]),
    ("bernoulli", [3]),
    ("categorical", 4),
]


@pytest.fixture(scope="module")
def table():
    """A mixed table: float, count, positive, bool and category columns."""
    rng = np.random.RandomState(0)
    n = 80
    return pd.DataFrame(
        {
            "height": rng.normal(size=n),
            "visits": rng.poisson(3, size=n),
            "price": np.exp(rng.normal(size=n)),
            "member": rng.rand(n) > 0.5,
            "colour": pd.Categorical(rng.randint(0, 3, size=n), categories=[0, 1, 2]),
        }
    )


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X)


def test_auto_reads_pandas_dtypes(table):
    model = _fit(GaussianVAE(2, likelihood="auto", **FAST), table)
    # Floats are Gaussian, with one full covariance (a positive float column
    # too: 'auto' never guesses 'lognormal'), non-negative integers counts,
    # bools Bernoulli, and each category column a categorical of its own.
    assert model.likelihoods_ == [
        ("gaussian_full", [0, 2]),
        ("poisson", [1]),
        ("bernoulli", [3]),
        ("categorical", [4]),
    ]
    assert model.likelihood == "auto"
    assert isinstance(model.module_.likelihood, ColumnLikelihood)
    assert model.transform(table).shape == (80, 2)


def test_auto_counts_categories_of_the_dtype_and_reads_negative_integers_as_gaussian():
    frame = pd.DataFrame(
        {
            "level": pd.Categorical([0, 1, 0, 1] * 5, categories=[0, 1, 2, 3]),
            "delta": [-1, 2, 0, 3] * 5,
        }
    )
    model = _fit(GaussianVAE(2, likelihood="auto", **FAST), frame)
    assert model.likelihoods_ == [("categorical", [0]), ("gaussian_full", [1])]
    # Levels unseen in training but declared by the dtype are levels.
    assert model.module_.likelihood.likelihoods[0].n_levels == 4
    unseen = pd.DataFrame({"level": [3.0], "delta": [0.0]})
    assert np.isfinite(model.score_samples(unseen)).all()


def test_auto_on_a_numpy_array_is_gaussian_bit_for_bit(make_linear_gaussian):
    # Few columns and rows to spare: one full covariance.
    X, _, _ = make_linear_gaussian(60)
    auto = _fit(GaussianVAE(2, likelihood="auto", **FAST), X)
    gaussian = _fit(GaussianVAE(2, likelihood="gaussian_full", **FAST), X)
    expected = [("gaussian_full", list(range(6)))]
    assert auto.likelihoods_ == gaussian.likelihoods_ == expected
    np.testing.assert_array_equal(auto.loss_curve_, gaussian.loss_curve_)
    np.testing.assert_array_equal(auto.score_samples(X), gaussian.score_samples(X))


@pytest.mark.parametrize(
    "column, match",
    [
        (pd.Categorical([1, 2] * 5), r"categories \[1, 2\].*rename_categories"),
        (pd.Categorical([0.0, 0.5] * 5), r"categories \[0.0, 0.5\].*must be those"),
        (pd.Series([0, 1.5] * 5, dtype=object), "dtype object with the value 1.5"),
    ],
)
def test_auto_refuses_categories_that_are_not_codes(column, match):
    frame = pd.DataFrame({"x": np.arange(10.0), "c": column})
    with pytest.raises(ValueError, match=match):
        GaussianVAE(2, likelihood="auto", **FAST).fit(frame)


def test_pairs_by_name_and_by_index_build_the_same_model(table):
    by_name = _fit(GaussianVAE(2, likelihood=PLAN_BY_NAME, **FAST), table)
    by_index = _fit(GaussianVAE(2, likelihood=PLAN_BY_INDEX, **FAST), table.to_numpy())
    expected = [(name, [i]) for i, (name, _) in enumerate(PLAN_BY_INDEX)]
    assert by_name.likelihoods_ == by_index.likelihoods_ == expected
    np.testing.assert_array_equal(by_name.loss_curve_, by_index.loss_curve_)
    # The parameter is stored as given.
    assert by_name.get_params()["likelihood"] is PLAN_BY_NAME
    assert clone(by_name).likelihood == PLAN_BY_NAME


@pytest.mark.parametrize("Estimator", [GaussianVAE, BernoulliVAE, AutoencoderGMM])
def test_every_method_works_with_mixed_likelihoods(Estimator, table):
    extra = {"n_mixture_components": 2} if Estimator is AutoencoderGMM else {}
    model = _fit(Estimator(2, likelihood=PLAN_BY_NAME, **FAST, **extra), table)
    scores = model.score_samples(table)
    assert scores.shape == (80,) and np.isfinite(scores).all()
    codes = model.transform(table)
    assert codes.shape == (80, 2)
    decoded = model.inverse_transform(codes)
    assert decoded.shape == (80, 5)
    assert set(np.unique(decoded[:, 4])) <= {0, 1, 2}
    assert ((decoded[:, 3] >= 0) & (decoded[:, 3] <= 1)).all()
    samples = model.sample(20)
    assert samples.shape == (20, 5)
    assert (samples[:, 1] == np.round(samples[:, 1])).all()
    assert (samples[:, 2] > 0).all()
    assert set(np.unique(samples[:, 3])) <= {0, 1}
    assert set(np.unique(samples[:, 4])) <= {0, 1, 2}


def test_a_laplace_proposal_needs_every_part_log_concave(table):
    model = _fit(
        AutoencoderGMM(2, likelihood=PLAN_BY_NAME, n_mixture_components=2, **FAST),
        table,
    )
    # Every part is log-concave in its outputs, so the composite is, and its
    # curvature has one value per decoder output.
    likelihood = model.module_.likelihood
    assert likelihood.log_concave
    assert all(part.log_concave for part in likelihood.likelihoods)


def test_a_mixed_model_starts_at_pca_of_its_encoder_inputs(table, monkeypatch):
    import skvae._base

    started = []
    principal_components = skvae._base._principal_components

    def spy(X, *args):
        started.append(X.shape)
        return principal_components(X, *args)

    monkeypatch.setattr(skvae._base, "_principal_components", spy)
    without_bernoulli = [("gaussian", [0, 3]), *PLAN_BY_INDEX[1:3], PLAN_BY_INDEX[4]]
    _fit(GaussianVAE(2, likelihood=without_bernoulli, **FAST), table)
    # The 72 training rows (8 are held out to stop on), and five columns, the
    # category's three levels one-hot: seven encoder inputs. (So few rows as
    # these then train on, on all 80, from that start's model: no new start.)
    assert started == [(72, 7)]
    # The Bernoulli likelihood starts at the data's mean, alone or in a plan.
    _fit(GaussianVAE(2, likelihood=PLAN_BY_NAME, **FAST), table)
    assert started == [(72, 7)]


def test_sparse_input_with_per_column_likelihoods():
    rng = np.random.RandomState(0)
    dense = np.column_stack(
        [rng.poisson(0.5, size=(40, 3)), np.eye(3)[rng.randint(0, 3, size=40)]]
    ).astype(float)
    plan = [("poisson", [0, 1, 2]), ("categorical", [3, 4, 5])]
    sparse = _fit(GaussianVAE(2, likelihood=plan, **FAST), sp.csr_matrix(dense))
    model = _fit(GaussianVAE(2, likelihood=plan, **FAST), dense)
    np.testing.assert_allclose(
        sparse.score_samples(sp.csr_matrix(dense)), model.score_samples(dense)
    )
    bad = sp.csr_matrix(np.column_stack([dense[:, :3], np.zeros((40, 3))]))
    with pytest.raises(ValueError, match=r"not one-hot.*columns \[3, 4, 5\]"):
        sparse.score_samples(bad)


@pytest.mark.parametrize(
    "likelihood, match",
    [
        ([], "empty list"),
        ([("gaussian", [0, 1])], r"no likelihood for the columns \['price', 'member'"),
        ([("gaussian", [0, 1, 2, 3]), ("categorical", [3, 4])], "'member' is in"),
        ([("gaussian", [0, 1, 2, 3, 7])], "index 7, but X has 5 columns"),
        ([("gaussian", [0, 1, 2, 3, -1])], "index -1, but X has 5 columns"),
        ([("gaussian", ["height", "weight"])], "'weight', which X does not have"),
        ([("gaussian", [0, 1, 2, 3, 3])], "a column twice"),
        ([("gaussian", [0, 1, 2, 3]), ("normal", 4)], "'normal', which is not regis"),
        ([("gaussian", [0, 1, 2, 3]), ("auto", 4)], "'auto', which chooses"),
        ([("gaussian", [0, 1, 2, 3]), "categorical"], "is 'categorical': each entry"),
        ([("gaussian", [0, 1, 2, 3]), ("categorical", [])], r"columns \[\]"),
        ([("gaussian", [0, 1, 2, 3]), ("categorical", True)], "column True"),
        ([("gaussian", [0, 1, 2, 3]), ("categorical", 4.0)], "columns 4.0"),
    ],
)
def test_bad_plans_are_refused_in_skvae_words(table, likelihood, match):
    model = GaussianVAE(2, likelihood=likelihood, **FAST)
    with pytest.raises(ValueError, match=match):
        model.fit(table)
    assert not hasattr(model, "module_")


def test_names_need_a_dataframe(table):
    with pytest.raises(ValueError, match="'height' by name, but X has no column"):
        GaussianVAE(2, likelihood=PLAN_BY_NAME, **FAST).fit(table.to_numpy())


def test_a_domain_error_names_the_columns(table):
    bad = table.assign(visits=table["visits"] - 1.5)
    with pytest.raises(ValueError, match=r"GaussianVAE \(columns \['visits'\]\)"):
        GaussianVAE(2, likelihood=PLAN_BY_NAME, **FAST).fit(bad)


def test_a_continued_fit_keeps_the_plan_and_a_failed_one_changes_nothing(table):
    model = _fit(GaussianVAE(2, likelihood=PLAN_BY_NAME, **FAST), table)
    model.partial_fit(table)
    before = {k: v for k, v in vars(model).items() if k != "likelihood"}
    model.set_params(likelihood=PLAN_BY_INDEX[:-1] + [("gaussian", 4)])
    with pytest.raises(ValueError, match="different architecture"):
        model.partial_fit(table)
    model.set_params(likelihood=PLAN_BY_INDEX)
    with pytest.raises(ValueError, match="not counts"):
        model.partial_fit(table.assign(visits=-table["visits"]))
    assert all(vars(model)[k] is v for k, v in before.items())
    # The same plan by index continues the fit by name.
    model.partial_fit(table)
    assert model.n_iter_ == before["n_iter_"] + 1


def test_tags_say_positive_only_where_any_part_needs_it():
    from sklearn.utils import get_tags

    assert not get_tags(GaussianVAE(likelihood="auto")).input_tags.positive_only
    gaussian_only = GaussianVAE(likelihood=[("gaussian", [0])])
    assert not get_tags(gaussian_only).input_tags.positive_only
    mixed = GaussianVAE(likelihood=[("gaussian", [0]), ("poisson", [1])])
    assert get_tags(mixed).input_tags.positive_only


def test_round_trips(table, tmp_path):
    model = _fit(GaussianVAE(2, likelihood=PLAN_BY_NAME, **FAST), table)
    expected = model.score_samples(table)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.score_samples(table), expected)
    assert restored.likelihoods_ == model.likelihoods_
    skops = pytest.importorskip("skops.io")
    dumped = skops.dumps(model)
    loaded = skops.loads(dumped, trusted=skops.get_untrusted_types(data=dumped))
    np.testing.assert_array_equal(loaded.score_samples(table), expected)
    pytest.importorskip("safetensors")
    skvae.save(model, tmp_path / "mixed.safetensors")
    loaded = skvae.load(tmp_path / "mixed.safetensors")
    np.testing.assert_array_equal(loaded.score_samples(table), expected)
    assert loaded.likelihood == PLAN_BY_NAME
    np.testing.assert_array_equal(loaded.sample(3, 0), model.sample(3, 0))


def _with_named_colours(table, categories=("red", "green", "blue")):
    """The table with its colour codes as categories of strings."""
    return table.assign(colour=table["colour"].cat.rename_categories(list(categories)))


@pytest.mark.parametrize("Estimator", [GaussianVAE, AutoencoderGMM])
def test_category_columns_of_strings_are_read_by_their_codes(table, Estimator):
    named = _with_named_colours(table)
    by_codes = _fit(Estimator(2, **FAST), table)
    by_names = _fit(Estimator(2, **FAST), named)
    assert by_names.likelihoods_ == by_codes.likelihoods_
    assert by_names.likelihoods_[-1] == ("categorical", [4])
    np.testing.assert_array_equal(by_names.loss_curve_, by_codes.loss_curve_)
    np.testing.assert_array_equal(
        by_names.score_samples(named), by_codes.score_samples(table)
    )
    np.testing.assert_array_equal(by_names.transform(named), by_codes.transform(table))
    # The codes themselves, as numbers, are read as the column.
    codes = named.assign(colour=named["colour"].cat.codes)
    np.testing.assert_array_equal(
        by_names.score_samples(codes), by_names.score_samples(named)
    )
    # A pickle keeps the categories it checks.
    again = pickle.loads(pickle.dumps(by_names))
    np.testing.assert_array_equal(
        again.score_samples(named), by_names.score_samples(named)
    )
    with pytest.raises(ValueError, match="categories"):
        again.score_samples(_with_named_colours(table, ("blue", "green", "red")))


def test_category_strings_other_than_the_fits_are_refused(table):
    named = _with_named_colours(table)
    model = _fit(GaussianVAE(2, **FAST), named)
    before = model.score_samples(named)
    reordered = named.assign(
        colour=named["colour"].cat.reorder_categories(["blue", "green", "red"])
    )
    added = named.assign(colour=named["colour"].cat.add_categories(["black"]))
    for X in (reordered, added):
        for method in ("transform", "score_samples", "partial_fit"):
            with pytest.raises(
                ValueError,
                match=r"Column 'colour' was a category column with categories "
                r"\['red', 'green', 'blue'\] at fit",
            ):
                getattr(model, method)(X)
    # Strings where the fit had numbers.
    numbers = _fit(GaussianVAE(2, **FAST), table)
    with pytest.raises(ValueError, match="'colour' was numbers at fit"):
        numbers.transform(named)
    np.testing.assert_array_equal(model.score_samples(named), before)


def test_a_plan_that_models_category_strings_as_measurements_is_refused(table):
    named = _with_named_colours(table)
    with pytest.raises(ValueError, match=r"gives it 'gaussian'.*\('categorical'"):
        GaussianVAE(2, likelihood="gaussian", **FAST).fit(named)
    plan = [
        ("gaussian", ["height", "visits", "price", "member"]),
        ("categorical", "colour"),
    ]
    model = _fit(GaussianVAE(2, likelihood=plan, **FAST), named)
    assert model.likelihoods_[-1] == ("categorical", [4])


def test_missing_category_strings_are_missing_values(table):
    named = _with_named_colours(table)
    named.loc[named.index[:5], "colour"] = np.nan
    model = _fit(GaussianVAE(2, **FAST), named)
    scores = model.score_samples(named)
    assert np.isfinite(scores).all()
    # A row without its colour scores its other columns only: higher.
    complete = _with_named_colours(table)
    assert (scores[:5] > model.score_samples(complete)[:5]).all()


def test_the_imputer_refuses_category_strings(table):
    named = _with_named_colours(table)
    with pytest.raises(ValueError, match="'colour' is a category column of strings"):
        skvae.VAEImputer(GaussianVAE(2, **FAST)).fit(named)


def test_saved_models_keep_the_category_strings_they_check(table, tmp_path):
    named = _with_named_colours(table)
    model = _fit(GaussianVAE(2, **FAST), named)
    skvae.save(model, tmp_path / "model.skvae")
    loaded = skvae.load(tmp_path / "model.skvae")
    assert loaded._string_categories_ == ((4, ("red", "green", "blue")),)
    np.testing.assert_array_equal(
        loaded.score_samples(named), model.score_samples(named)
    )
    with pytest.raises(ValueError, match="was a category column"):
        loaded.transform(_with_named_colours(table, ("blue", "green", "red")))
