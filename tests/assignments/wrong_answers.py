"""Plausible wrong answers per assignment, each with the graded tests it must fail.

The grading round trip checks that each loses exactly those tests' points (partial credit),
and that nbgrader's Validate shows the student a message they can act on.
"""

WRONG_ANSWERS = {
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
}
