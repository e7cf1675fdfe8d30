"""Plausible wrong answers per assignment, each with the graded tests it must fail.

The grading round trip checks that each loses exactly those tests' points (partial credit),
and that nbgrader's Validate shows the student a message they can act on.
"""

# The full-Gaussian head's parameters as the reference computes them: the wrong answers and
# hostile submissions of conditional_heads that differ only in the log-density start with it.
FULL_GAUSSIAN_PARAMS = (
    "def full_gaussian_params(raw):\n"
    "    d = int(round((math.sqrt(9 + 8 * raw.shape[-1]) - 3) / 2))\n"
    "    rows, cols = torch.tril_indices(d, d)\n"
    "    tril = raw.new_zeros(raw.shape[0], d, d)\n"
    "    tril[:, rows, cols] = raw[:, d:]\n"
    "    diagonal = F.softplus(torch.diagonal(tril, dim1=-2, dim2=-1)) + 1e-3\n"
    "    return raw[:, :d], torch.tril(tril, -1) + torch.diag_embed(diagonal)\n"
    "\n"
    "\n"
)

WRONG_ANSWERS = {
    "conditional_heads": {
        # The log-likelihood without the log-determinant of the Cholesky factor: the mean and
        # factor still score, the log-likelihood fails, and training inflates the predicted
        # errors without bound (coverage 1), so the training test fails too.
        "c_no_log_determinant": (
            {
                "full_gaussian": FULL_GAUSSIAN_PARAMS
                + (
                    "def full_gaussian_log_prob(raw, y):\n"
                    "    mean, tril = full_gaussian_params(raw)\n"
                    "    v = (y - mean).unsqueeze(-1)\n"
                    "    z = torch.linalg.solve_triangular(tril, v, upper=False).squeeze(-1)\n"
                    "    return -0.5 * (z**2).sum(-1) - 0.5 * y.shape[-1] * math.log(2 * math.pi)\n"
                )
            },
            {"test_full_gaussian_log_prob", "test_training"},
        ),
    },
    "drift_ls": {
        # The NLL without the change-of-variables term -log h': the transformation, its
        # derivative and the fit (by the library's loss) still score, the NLL test fails.
        "c_nll_without_log_derivative": (
            {
                "ls_nll": (
                    "def ls_nll(g, dg, w, mu, log_sigma):\n"
                    "    h, _ = ls_transform(g, dg, w, mu, log_sigma)\n"
                    "    return (0.5 * h**2 + 0.5 * math.log(2 * math.pi)).mean()\n"
                )
            },
            {"test_ls_nll"},
        ),
    },
    "logit_mle": {
        # The summed NLL: the fit and the standard errors are unaffected, the loss tests fail.
        "c_summed_loss": (
            {
                "logit_nll": (
                    "def logit_nll(x, y, beta, alpha):\n"
                    "    eta = alpha + x @ beta\n"
                    "    return -(y * F.logsigmoid(eta) + (1 - y) * F.logsigmoid(-eta)).sum()\n"
                )
            },
            {"test_logit_nll", "test_logit_nll_extreme"},
        ),
        # An infinite loop in the report cell: interrupted, so the report test fails.
        "b_infinite_loop": ({"report": "while True:\n    pass\n"}, {"test_report"}),
    },
    "planar_realnvp": {
        # The log-det of the inverse returned by the forward map: the forward test fails, and
        # so does the inverse, which reuses the forward's log-det; the couplings still score.
        "c_flipped_log_det": (
            {
                "planar_forward": (
                    "def planar_forward(z, w, u, b):\n"
                    "    wu = w @ u\n"
                    "    u_hat = u + (-1.0 + F.softplus(wu) - wu) * w / (w @ w)\n"
                    "    a = z @ w + b\n"
                    "    x = z + torch.tanh(a)[:, None] * u_hat\n"
                    "    return x, -torch.log(torch.abs(1.0 + (1.0 - torch.tanh(a) ** 2) * (w @ u_hat)))\n"
                )
            },
            {"test_planar_forward", "test_planar_inverse"},
        ),
    },
    "sinkhorn": {
        # The entropic OT cost without the debiasing terms: S(x, x) is not 0 and the closed
        # forms fail; the OT cost itself and the pushforward fit still score.
        "c_no_debias": (
            {
                "sinkhorn_divergence": (
                    "def sinkhorn_divergence(x, y, blur, iterations=500):\n"
                    "    return sinkhorn_cost(x, y, blur, iterations)\n"
                )
            },
            {"test_sinkhorn_divergence", "test_sinkhorn_closed_form"},
        ),
    },
    "splines": {
        # The log-derivative without the factor s_k^2: the values and the tails still score,
        # the log-derivative test fails.
        "c_log_derivative_without_slope_squared": (
            {
                "rq_spline_forward": (
                    "def rq_spline_forward(x, knot_x, knot_y, knot_d):\n"
                    "    bound = knot_x[-1]\n"
                    "    inside = (x >= -bound) & (x <= bound)\n"
                    "    xc = x.clamp(-bound, bound)\n"
                    "    k = (torch.searchsorted(knot_x, xc.contiguous(), right=True) - 1)\n"
                    "    k = k.clamp(0, len(knot_x) - 2)\n"
                    "    w, h = knot_x[k + 1] - knot_x[k], knot_y[k + 1] - knot_y[k]\n"
                    "    d0, d1, s = knot_d[k], knot_d[k + 1], h / w\n"
                    "    xi = (xc - knot_x[k]) / w\n"
                    "    mix = xi * (1 - xi)\n"
                    "    den = s + (d0 + d1 - 2 * s) * mix\n"
                    "    y = knot_y[k] + h * (s * xi**2 + d0 * mix) / den\n"
                    "    num = d1 * xi**2 + 2 * s * mix + d0 * (1 - xi) ** 2\n"
                    "    log_d = torch.log(num) - 2 * torch.log(den)\n"
                    "    return torch.where(inside, y, x), torch.where(inside, log_d, 0.0)\n"
                )
            },
            {"test_spline_log_derivative"},
        ),
    },
    "cnf": {
        # The divergence with the wrong sign in the augmented dynamics (+tr where the
        # log-density falls at -tr): the divergence itself still scores; the augmented
        # dynamics, the log-density and the fit (which then shrinks the data) fail.
        "c_divergence_with_wrong_sign": (
            {
                "augmented_dynamics": (
                    "def augmented_dynamics(f, t, state):\n"
                    "    z = state[0]\n"
                    "    with torch.enable_grad():\n"
                    "        if not z.requires_grad:\n"
                    "            z = z.detach().requires_grad_(True)\n"
                    "        dz = f(t, z)\n"
                    "        return dz, divergence(dz, z)\n"
                )
            },
            {"test_augmented", "test_log_prob", "test_log_prob_exact", "test_training"},
        ),
    },
}
