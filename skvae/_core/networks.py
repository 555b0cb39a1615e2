"""Encoder and decoder builders, the model that joins them, and the modules
that export them."""

import copy
import math
from typing import Protocol

import torch
from torch import nn

from .registry import Registry

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}

# Each activation's derivative as a function of its input and its output, for
# :meth:`LinearPlusMLP.jacobian`.
_DERIVATIVES = {
    nn.Identity: lambda inputs, outputs: torch.ones_like(outputs),
    nn.Sigmoid: lambda inputs, outputs: outputs * (1 - outputs),
    nn.Tanh: lambda inputs, outputs: 1 - outputs**2,
    nn.ReLU: lambda inputs, outputs: (inputs > 0).to(outputs.dtype),
}


def mlp(n_inputs, hidden_layer_sizes, n_outputs, activation):
    """A multilayer perceptron: Linear layers with ``activation`` between them.

    The last layer is linear: what its outputs mean (a posterior's parameters,
    a likelihood's mean or logits) is for the caller to say.
    """
    sizes = [n_inputs, *hidden_layer_sizes, n_outputs]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers[:-1])


class Network(Protocol):
    """What the model asks of an encoder or a decoder, whatever its architecture.

    A network is a torch module mapping (..., n_inputs) to (..., n_outputs)
    that also offers:

    ``jacobian(z)``
        Its output and its Jacobian in z, of shape (rows, outputs, inputs):
        the Laplace proposal of ``AutoencoderGMM``'s scores needs the
        decoder's.
    ``set_linear(weight, bias)``
        Make the untrained network the affine map ``weight @ x + bias``:
        :meth:`VAE.initialize` and :meth:`VAE.linear_start` start the model
        through it.
    """

    def __call__(self, x): ...

    def jacobian(self, z): ...

    def set_linear(self, weight, bias): ...


class LinearPlusMLP(nn.Module):
    """A linear map plus a multilayer perceptron of the same input.

    The perceptron's last layer starts at zero, so the untrained network is the
    linear map alone: a model whose linear part starts at probabilistic PCA
    (:meth:`VAE.linear_start`) starts at PCA's likelihood, and training adds
    the nonlinear part only where it explains the data better. Without hidden
    layers the network is the linear map.
    """

    def __init__(self, n_inputs, hidden_layer_sizes, n_outputs, activation):
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)
        self.mlp = None
        if hidden_layer_sizes:
            self.mlp = mlp(n_inputs, hidden_layer_sizes, n_outputs, activation)
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x):
        out = self.linear(x)
        if self.mlp is not None:
            out = out + self.mlp(x)
        return out

    @torch.no_grad()
    def set_linear(self, weight, bias):
        # The perceptron's last layer is zero until training moves it.
        self.linear.weight.copy_(weight)
        self.linear.bias.copy_(bias)

    def jacobian(self, z):
        """Forward-mode differentiation by hand, layer by layer.

        torch.func's transforms would do it for any network, but they share
        process-global state: scored from several threads at once, they
        raised, returned wrong numbers or crashed the process.
        """
        out = self.linear(z)
        tangent = self.linear.weight.expand(*z.shape[:-1], *self.linear.weight.shape)
        if self.mlp is None:
            return out, tangent
        mlp_out, mlp_tangent = _mlp_jacobian(self.mlp, z)
        return out + mlp_out, tangent + mlp_tangent


def _mlp_jacobian(network, z):
    out = z
    tangent = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device).expand(
        *z.shape, z.shape[-1]
    )  # d out / d z, (rows, width, inputs)
    for layer in network:
        inputs, out = out, layer(out)
        if isinstance(layer, nn.Linear):
            tangent = layer.weight @ tangent
        else:
            tangent = _DERIVATIVES[type(layer)](inputs, out)[..., None] * tangent
    return out, tangent


def linear_plus_mlp(
    n_inputs, n_outputs, latent, *, hidden_layer_sizes, decoder_layer_sizes, activation
):
    """Encoder and decoder, each a :class:`LinearPlusMLP`.

    The encoder's hidden layers are ``hidden_layer_sizes``, the decoder's
    ``decoder_layer_sizes``.
    """
    encoder = LinearPlusMLP(
        n_inputs, hidden_layer_sizes, latent.n_encoder_outputs, activation
    )
    decoder = LinearPlusMLP(
        latent.n_components, decoder_layer_sizes, n_outputs, activation
    )
    return encoder, decoder


# Builders of (encoder, decoder) by name. A builder takes the encoder's input
# width and the decoder's output width (what the likelihood reads and
# predicts: ``Likelihood.n_encoder_inputs`` and ``n_outputs``, the number of
# features for most), the latent family and its own keyword arguments, plain
# data that the model records so that it can be built again
# (skvae._core.state).
NETWORKS = Registry("network builder")
NETWORKS["linear_plus_mlp"] = linear_plus_mlp


def build_vae(n_features, network, latent, likelihood, missingness=None):
    """The model whose networks ``network`` describes.

    ``network`` is plain data: ``{"name": builder name in NETWORKS, **its
    keyword arguments}``. ``missingness`` is a model of which entries are
    missing (``skvae._core.missing``), or None for values missing at random.
    """
    arguments = dict(network)
    builder = NETWORKS.lookup(arguments.pop("name"))
    encoder, decoder = builder(
        likelihood.n_encoder_inputs, likelihood.n_outputs, latent, **arguments
    )
    return VAE(n_features, network, encoder, decoder, latent, likelihood, missingness)


class VAE(nn.Module):
    """Encoder -> latent family -> decoder -> likelihood, as one module.

    Which networks (:func:`build_vae`), latent family, likelihood and
    missingness model are plugged in is the estimator's choice.

    A missing entry of x is a NaN. The methods that take ``observed``, the
    mask of observed entries (``skvae._core.missing.observed_entries``), treat
    it as unknown; ``observed=None`` (every entry observed) is the path of
    complete data.
    """

    def __init__(
        self, n_features, network, encoder, decoder, latent, likelihood, missingness
    ):
        super().__init__()
        # Kept so that the module can be described in plain data and rebuilt
        # (skvae._core.state), which is how estimators pickle and save.
        self.n_features = n_features
        self.network = dict(network)
        self.encoder = encoder
        self.decoder = decoder
        self.latent = latent
        self.likelihood = likelihood
        self.missingness = missingness
        # What the encoder reads in place of a missing entry, per encoder
        # input (Likelihood.missing_input): the training mean, so the zero of
        # centred data, as in MIWAE (Mattei and Frellsen, 2019). NaN until
        # initialize: a model saved before skvae kept it has none (see
        # missing_fill_known).
        self.register_buffer(
            "input_fill", torch.full((likelihood.n_encoder_inputs,), math.nan)
        )

    def encode(self, x, observed=None):
        inputs = encoder_inputs(self.likelihood, self.input_fill, x, observed)
        return self.latent.posterior(self.encoder(inputs))

    def decode(self, z):
        return self.decoder(z)

    def observation_log_prob(self, x, out, observed=None):
        """log p(x_observed | out) per row, and with a missingness model
        log p(x_observed, s | out), s the mask of missing entries."""
        if observed is None:
            log_prob = self.likelihood.log_prob(x, out)
        else:
            log_prob = self.likelihood.log_prob_observed(x, out, observed)
        if self.missingness is not None:
            log_prob = log_prob + self.missingness.log_prob(
                x, out, observed, self.likelihood
            )
        return log_prob

    def observation_log_prob_pairs(self, x, out, observed=None):
        """:meth:`observation_log_prob` for every row i and decoder output j."""
        if observed is None:
            log_prob = self.likelihood.log_prob_pairs(x, out)
        else:
            log_prob = self.likelihood.log_prob_pairs_observed(x, out, observed)
        if self.missingness is not None:
            log_prob = log_prob + self.missingness.log_prob_pairs(
                x, out, observed, self.likelihood
            )
        return log_prob

    def observation_gauss_newton(self, x, out, jacobian, observed=None):
        """The likelihood's ``gauss_newton`` term, without the missing entries
        (they do not constrain the output)."""
        if observed is None:
            return self.likelihood.gauss_newton(x, out, jacobian)
        return self.likelihood.gauss_newton_observed(x, out, jacobian, observed)

    def missing_terms(self, out):
        """What imputation averages over latent draws, for entries known to be
        missing: the likelihood's :meth:`~Likelihood.expected_terms` (its
        mean, or its levels' probabilities), or with a missingness model the
        mean given that it hid the entry. :meth:`imputed` reads the average."""
        if self.missingness is None:
            return self.likelihood.expected_terms(out)
        return self.missingness.missing_mean(out, self.likelihood)

    def imputed(self, terms):
        """The imputed values of an average of :meth:`missing_terms`."""
        if self.missingness is None:
            return self.likelihood.from_expected_terms(terms)
        return terms

    def missing_sample(self, out, generator):
        """A draw of each entry from p(x|out), or with a missingness model
        from p(x | out, the entry is missing)."""
        if self.missingness is None:
            return self.likelihood.sample(out, generator)
        return self.missingness.missing_sample(out, self.likelihood, generator)

    def missing_fill_known(self):
        """Whether the model knows what to show its encoder for a missing
        entry (models saved by an skvae before 0.1 lack it)."""
        return bool(torch.isfinite(self.input_fill).all())

    def decode_with_jacobian(self, z):
        """The decoder's output and its Jacobian in z: (rows, outputs, inputs)."""
        return self.decoder.jacobian(z)

    @torch.no_grad()
    def initialize(self, x_mean, x_var, rows=()):
        """Make the untrained model predict the data mean and variance.

        The decoder's linear map starts at zero, as its perceptron's last layer
        does, so that the prediction is the mean whatever the code: a random
        map added noise that the likelihood's variances, started at the data's
        (tiny for near-constant features), turned into losses of 50,000 nats.
        ``rows``, blocks of the training rows, are shown to a likelihood that
        needs more than the mean and variance (``Likelihood.observes_rows``).
        """
        if self.likelihood.observes_rows:
            for x in rows:
                self.likelihood.observe(x)
        weight = x_mean.new_zeros(self.likelihood.n_outputs, self.latent.n_components)
        self.decoder.set_linear(weight, self.likelihood.initialize(x_mean, x_var))
        self.input_fill.copy_(self.likelihood.missing_input(x_mean))

    def supports_linear_start(self):
        """Whether the latent family and the likelihood let :meth:`linear_start`
        apply: a linear model is linear-Gaussian, or the likelihood can start
        from probabilistic PCA of its encoder inputs, linearized
        (``Likelihood.start_slope``)."""
        return self.latent.supports_linear_start and (
            self.likelihood.linear_gaussian or self.likelihood.linearized_start
        )

    @torch.no_grad()
    def linear_start(
        self,
        x_mean,
        components,
        variances,
        noise_variance,
        feature_variances,
        covariance=None,
    ):
        """Start the linear parts at probabilistic PCA (Tipping and Bishop, 1999).

        ``components`` (k, n_features) are the data's leading principal
        directions and ``variances`` (k,) the variances along them. The decoder
        becomes x = mean + W z with W = U diag(sqrt(variances - noise_variance))
        and the likelihood's variance ``noise_variance``; the encoder becomes
        the exact posterior of that model, which is diagonal. The untrained
        model is then probabilistic PCA with k components, whose likelihood is
        PCA's, and its ELBO equals that likelihood. A likelihood with a full
        covariance starts at what W leaves of the data's ``covariance``
        instead. Only where :meth:`supports_linear_start`. A code that is not
        standard normal moves x as far as its family says
        (``LatentFamily.start_loading``, per unit of the standardized code)
        and its encoder starts at that model's posterior
        (``LatentFamily.linear_encoder_start``): BernoulliVAE's bits start
        as the signs of the leading principal components.

        For any other likelihood the principal directions are those of its
        encoder inputs (``Likelihood.encoder_input``), and the decoder is that
        model linearized at the start (:meth:`_linearized_decoder_start`),
        with the noise that the likelihood starts from what the components
        leave of its inputs (``Likelihood.start_linearized_noise``: one
        covariance across the columns of a full-covariance part).
        """
        k = min(components.shape[0], self.latent.n_components)
        components, variances = components[:k], variances[:k]
        loading = x_mean.new_zeros(components.shape[1], self.latent.n_components)
        loading[:, :k] = components.T * self.latent.start_loading(
            variances, noise_variance
        )
        # One step towards factor analysis: each feature's variance is what
        # the components leave of it. On standardized digits, whose edge
        # pixels hardly vary, an isotropic start scored 12 nats below
        # FactorAnalysis.
        floor = torch.clamp(noise_variance * 1e-3, min=2 * self.likelihood.min_variance)
        noise = torch.clamp(feature_variances - (loading**2).sum(1), min=float(floor))
        # x = mean + loading (z - center) / scale: the decoder's weight and its
        # shift at z = 0 (none for a code centred at 0).
        weight = loading / self.latent.code_scale
        shift = weight.sum(1) * self.latent.code_center
        # weighted = loading^T Psi^-1, Psi the noise covariance of the start.
        if self.likelihood.linear_gaussian:
            self.decoder.set_linear(weight, x_mean - shift)
            weighted = self.likelihood.start_noise(noise, loading, covariance)
        else:
            self._linearized_decoder_start(weight, shift)
            weighted = self.likelihood.start_linearized_noise(
                noise, loading, covariance
            )
        self.encoder.set_linear(
            *self.latent.linear_encoder_start(loading, weighted, x_mean)
        )

    def _linearized_decoder_start(self, input_weight, shift):
        """The decoder of probabilistic PCA of the encoder inputs, u = mean +
        W z - shift + noise, in the likelihood's outputs: each output moves
        with z as its encoder input does, times ``Likelihood.start_slope`` (d
        output / d input at the start). At the code's mean the outputs are
        the start that :meth:`initialize` gave.

        On auto-mpg (counts, a category, positive values) this start lifted
        the held-out log-likelihood of a per-column model from -27.6 to -26.3
        nats per row (``benchmarks/bench_mixed_columns.py``, one seed), past
        the all-Gaussian model's, which starts at probabilistic PCA.
        """
        start = self.decoder(input_weight.new_zeros(1, self.latent.n_components))[0]
        slope = self.likelihood.start_slope(start)
        self.decoder.set_linear(slope[:, None] * input_weight, start - slope * shift)


class Encoder(nn.Module):
    """x -> the posterior's mean, as ``transform`` computes it: a module to export.

    Holds copies of the trained encoder, of the latent family, whose
    ``mean`` says what the encoder's output means (the first half of it for a
    Gaussian posterior, the sigmoid of logits for bits, the code itself for a
    deterministic latent), and of the likelihood, whose ``encoder_input`` says
    what the encoder reads of the columns.
    """

    def __init__(self, model):
        super().__init__()
        self.network = copy.deepcopy(model.encoder)
        self.latent = copy.deepcopy(model.latent)
        self.likelihood = copy.deepcopy(model.likelihood)
        self.register_buffer("input_fill", model.input_fill.clone())

    def forward(self, x):
        # Missing entries (NaN) read as in transform; complete rows read x
        # itself, bit for bit.
        inputs = encoder_inputs(self.likelihood, self.input_fill, x, ~torch.isnan(x))
        return self.latent.mean(self.latent.posterior(self.network(inputs)))


def encoder_inputs(likelihood, input_fill, x, observed=None):
    """What the encoder reads of the rows ``x``: ``Likelihood.encoder_input``,
    with ``input_fill`` in place of the inputs of each missing entry where
    ``observed`` (the mask of observed entries) is given. A missing entry is
    first given a value in the likelihood's domain
    (``Likelihood.fill_missing``), so that no NaN reaches the map."""
    if observed is None:
        return likelihood.encoder_input(x)
    inputs = likelihood.encoder_input(likelihood.fill_missing(x, observed))
    return torch.where(likelihood.observed_inputs(observed), inputs, input_fill)


class Decoder(nn.Module):
    """z -> the likelihood's mean, as ``inverse_transform`` computes it."""

    def __init__(self, model):
        super().__init__()
        self.network = copy.deepcopy(model.decoder)
        self.likelihood = copy.deepcopy(model.likelihood)

    def forward(self, z):
        return self.likelihood.mean(self.network(z))
