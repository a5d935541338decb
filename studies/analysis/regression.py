"""The robustness models, written out so they run at any panel size in milliseconds.

`crossed_mixed_model`: rating = condition effect + listener intercept + item intercept + noise,
both intercepts random and crossed (every listener hears many items, every item many listeners),
fitted by REML. statsmodels can fit this only as one dense group (2 s per scale at 40 listeners,
no convergence at 100), so the REML criterion is evaluated here through Henderson's mixed model
equations: the listener block is diagonal, so eliminating it leaves a (conditions + items)-square
system, and one evaluation costs O(listeners x (conditions + items)^2) whatever the number of ratings.

`ordinal_model`: a proportional-odds (cumulative logit) model of the rating on condition. No
maintained Python library fits a mixed ordinal model (statsmodels' OrderedModel has no random
effects; mord neither), so this is the population-averaged model with listener-clustered
(sandwich) standard errors: the p-values account for a listener's ratings being correlated, but
the coefficients are marginal (not conditional on a listener), items are ignored, and every
listener shares the same thresholds (no per-listener scale use). The likelihood depends on the
data only through the condition x rating counts, so the fit is on a 5-row-per-condition table.

Both take the ratings of one scale (long format) and return plain dicts; `significance` turns
them into rows of the tests table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

LOG_RATIO_BOUNDS = (-12.0, 6.0)  # variance ratios to the residual from 6e-6 (none) to 400


@dataclass
class Fit:
    """Contrasts of each condition against `base`: estimate, standard error, two-sided Wald p."""

    base: str
    conditions: list[str]
    estimate: np.ndarray
    se: np.ndarray
    p: np.ndarray
    variances: dict[str, float]  # mixed model: listener, item, residual; ordinal: empty
    converged: bool
    note: str


def _wald(base, conditions, estimate, cov, variances, converged, note) -> Fit:
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(estimate / se))
    return Fit(base, conditions, estimate, se, p, variances, converged, note)


def crossed_mixed_model(data: pd.DataFrame, base: str, conditions: list[str]) -> Fit:
    """REML fit of rating ~ condition + (1 | listener) + (1 | item), crossed.

    Args:
        data: long-format ratings of one scale: columns participant, item, condition, rating.
        base: the condition every contrast is against (treatment coding).
        conditions: the other conditions, in report order.

    Returns:
        A Fit with the contrasts in points; Wald z p-values (as statsmodels' MixedLM reports).

    Raises:
        ValueError: fewer than 2 listeners or 2 items, or a condition nobody rated.
    """
    listener, n_listeners = _codes(data["participant"])
    item, n_items = _codes(data["item"])
    if n_listeners < 2 or n_items < 2:
        raise ValueError("needs at least 2 listeners and 2 items")
    y = data["rating"].to_numpy(dtype=float)
    cond = data["condition"].to_numpy()
    x = np.column_stack([np.ones(len(y))] + [(cond == c).astype(float) for c in conditions])
    if (x[:, 1:].sum(axis=0) == 0).any():
        raise ValueError("a condition has no ratings")
    n, p = x.shape
    # Sufficient statistics: everything the criterion needs, summed per listener once.
    e = np.zeros((n_listeners, p + n_items))  # Z_listener' [X, Z_item]
    np.add.at(e[:, :p], listener, x)
    np.add.at(e, (listener, p + item), 1.0)
    per_listener = np.bincount(listener, minlength=n_listeners).astype(float)
    listener_y = np.bincount(listener, weights=y, minlength=n_listeners)
    b0 = np.zeros((p + n_items, p + n_items))  # [X, Z_item]' [X, Z_item]
    b0[:p, :p] = x.T @ x
    np.add.at(b0[:p, p:].T, item, x)
    b0[p:, :p] = b0[:p, p:].T
    b0[p:, p:] = np.diag(np.bincount(item, minlength=n_items).astype(float))
    rhs = np.concatenate([x.T @ y, np.bincount(item, weights=y, minlength=n_items)])
    yy = float(y @ y)

    def solve(theta):
        gamma_l, gamma_i = np.exp(theta)
        a = per_listener + 1 / gamma_l
        scaled = e / np.sqrt(a)[:, None]
        s = b0 - scaled.T @ scaled
        s[p:, p:] += np.eye(n_items) / gamma_i
        r = rhs - e.T @ (listener_y / a)
        chol = np.linalg.cholesky(s)
        solution = np.linalg.solve(s, r)
        ypy = yy - float(listener_y @ (listener_y / a)) - float(r @ solution)
        logdet = np.log(a).sum() + 2 * np.log(np.diag(chol)).sum()
        return a, s, solution, ypy, logdet

    def criterion(theta):  # -2 x REML log-likelihood, sigma^2 profiled out, constants dropped
        try:
            _, _, _, ypy, logdet = solve(theta)
        except np.linalg.LinAlgError:
            return 1e300  # finite, so the optimiser's finite differences stay finite
        if ypy <= 0:
            return 1e300
        return (n - p) * np.log(ypy) + n_listeners * theta[0] + n_items * theta[1] + logdet

    # A typical listening panel first (listener variance ~0.2, item ~0.05 of the residual); other
    # starts only if that one fails, keeping the best criterion.
    best = None
    for start in (np.log([0.2, 0.05]), np.log([1.0, 1.0]), np.log([0.01, 0.01])):
        fit = optimize.minimize(criterion, start, method="L-BFGS-B", bounds=[LOG_RATIO_BOUNDS] * 2)
        if best is None or fit.fun < best.fun:
            best = fit
        if fit.success:
            break
    a, s, solution, ypy, _ = solve(best.x)
    sigma2 = ypy / (n - p)
    cov = sigma2 * np.linalg.inv(s)[1:p, 1:p]
    gamma = np.exp(best.x)
    variances = {"listener": gamma[0] * sigma2, "item": gamma[1] * sigma2, "residual": sigma2}
    at_bound = [
        name for name, t in zip(("listener", "item"), best.x, strict=True) if t <= LOG_RATIO_BOUNDS[0] + 1e-6
    ]
    note = (
        f"REML, crossed random intercepts; variances listener {variances['listener']:.3f}, "
        f"item {variances['item']:.3f}, residual {sigma2:.3f}"
    )
    if at_bound:
        note += f"; {' and '.join(at_bound)} variance estimated at zero"
    return _wald(base, conditions, solution[1:p], cov, variances, bool(best.success), note)


def ordinal_model(data: pd.DataFrame, base: str, conditions: list[str]) -> Fit:
    """Proportional-odds logit of rating on condition, standard errors clustered by listener.

    P(rating <= k | condition c) = logistic(tau_k - beta_c), beta_base = 0: a positive beta means
    higher ratings than `base`. The covariance is the sandwich over listeners with statsmodels'
    small-sample factor G/(G-1) x (N-1)/(N-q) (its cov_type="cluster").

    Returns:
        A Fit with log-odds contrasts.

    Raises:
        ValueError: fewer than 2 distinct ratings or 2 listeners.
    """
    levels = np.sort(data["rating"].unique())
    if len(levels) < 2:
        raise ValueError("needs at least 2 distinct ratings")
    listener, n_listeners = _codes(data["participant"])
    if n_listeners < 2:
        raise ValueError("needs at least 2 listeners")
    names = [base, *conditions]
    cond = pd.Categorical(data["condition"], categories=names).codes
    level = np.searchsorted(levels, data["rating"].to_numpy())
    n_c, n_k = len(names), len(levels)
    counts = np.zeros((n_c, n_k))
    np.add.at(counts, (cond, level), 1.0)
    n_thresholds = n_k - 1
    q = n_thresholds + n_c - 1

    def cell_scores(params):
        """log p and its gradient for every (condition, rating) cell: (c, k) and (c, k, q)."""
        tau, beta = params[:n_thresholds], np.concatenate([[0.0], params[n_thresholds:]])
        upper = np.concatenate([tau, [np.inf]])[None, :] - beta[:, None]
        lower = np.concatenate([[-np.inf], tau])[None, :] - beta[:, None]
        prob = special.expit(upper) - special.expit(lower)
        prob = np.clip(prob, 1e-300, None)
        d_up = _logistic_density(upper) / prob
        d_low = _logistic_density(lower) / prob
        grad = np.zeros((n_c, n_k, q))
        for k in range(n_k):
            if k < n_thresholds:
                grad[:, k, k] += d_up[:, k]
            if k > 0:
                grad[:, k, k - 1] -= d_low[:, k]
        slope = -(d_up - d_low)  # d log p / d beta_c
        for c in range(1, n_c):
            grad[c, :, n_thresholds + c - 1] = slope[c]
        return np.log(prob), grad

    def to_params(free):  # ordered thresholds from a first value and positive increments
        tau = np.cumsum(np.concatenate([free[:1], np.exp(free[1:n_thresholds])]))
        return np.concatenate([tau, free[n_thresholds:]])

    def negative_loglike(free):
        params = to_params(free)
        logp, grad = cell_scores(params)
        g = np.einsum("ck,ckq->q", counts, grad)
        jac = np.eye(q)  # d params / d free
        jac[:n_thresholds, 0] = 1.0
        increments = np.exp(free[1:n_thresholds])
        for i in range(1, n_thresholds):
            jac[i:n_thresholds, i] = increments[i - 1]
        return -float((counts * logp).sum()), -(g @ jac)

    cumulative = np.cumsum(counts.sum(axis=0))[:-1] / counts.sum()
    start_tau = special.logit(np.clip(cumulative, 1e-3, 1 - 1e-3))
    start = np.concatenate([start_tau[:1], np.log(np.maximum(np.diff(start_tau), 1e-3)), np.zeros(n_c - 1)])
    fitted = optimize.minimize(negative_loglike, start, jac=True, method="BFGS", options={"gtol": 1e-8})
    params = to_params(fitted.x)
    # BFGS reports "precision loss" once the gradient is at rounding level; judge by the gradient.
    converged = bool(np.max(np.abs(negative_loglike(fitted.x)[1])) < 1e-6 * counts.sum())

    def total_gradient(theta):
        return np.einsum("ck,ckq->q", counts, cell_scores(theta)[1])

    step = 1e-5
    hessian = np.column_stack(
        [
            (total_gradient(params + step * u) - total_gradient(params - step * u)) / (2 * step)
            for u in np.eye(q)
        ]
    )
    bread = np.linalg.inv(-(hessian + hessian.T) / 2)
    _, grad = cell_scores(params)
    per_obs = grad[cond, level]  # (N, q)
    per_listener = np.zeros((n_listeners, q))
    np.add.at(per_listener, listener, per_obs)
    n = len(cond)
    factor = n_listeners / (n_listeners - 1) * (n - 1) / (n - q)
    cov = factor * bread @ (per_listener.T @ per_listener) @ bread
    note = f"proportional-odds logit, SEs clustered by listener ({n_listeners} clusters)"
    block = slice(n_thresholds, q)
    return _wald(base, conditions, params[block], cov[block, block], {}, converged, note)


def _logistic_density(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    finite = np.isfinite(x)
    e = special.expit(x[finite])
    out[finite] = e * (1 - e)
    return out


def _codes(values: pd.Series) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(values)
    return codes, len(uniques)
