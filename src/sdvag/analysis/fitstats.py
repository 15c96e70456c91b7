"""How well a run reproduces observed values, and how well the data pin down the parameters.

Behaviour-reproduction statistics follow Sterman (2000, Business Dynamics, ch. 21): R-squared,
mean absolute percent error and Theil's inequality statistics, which split the mean squared
error into bias (unequal means), variance (unequal spreads) and covariance (unsystematic,
point-by-point) shares. A fit whose error is mostly covariance reproduces the behaviour;
large bias or variance shares point to a systematic error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

STATISTICS = ("n", "r_squared", "mape", "rmse", "theil_bias", "theil_variance", "theil_covariance")
FLAT = 1e-6          # singular value ratio below which a direction is not identified
CORRELATED = 0.95    # |correlation| above which two estimates are not separately identified


MIN_POINTS = 3       # R-squared and Theil shares need at least this many points to mean anything


def series_statistics(model, data) -> dict:
    """R-squared, MAPE (percent), RMSE and Theil shares of model values against data values.

    R-squared is 1 - SSE/SST; the Theil shares add up to 1. Both need MIN_POINTS points (with
    two, any curve through both has R-squared 1 and the shares split nothing): below that, or
    when the data do not vary or the fit is exact to rounding, they are NaN and `omitted` says why.
    """
    m, d = np.asarray(model, dtype=float), np.asarray(data, dtype=float)
    err = m - d
    mse = float(np.mean(err ** 2))
    sst = float(np.sum((d - d.mean()) ** 2))
    nonzero = d != 0
    enough = d.size >= MIN_POINTS
    out = {
        "n": int(d.size),
        "r_squared": 1.0 - float(np.sum(err ** 2)) / sst if enough and sst > 0 else float("nan"),
        "mape": float(np.mean(np.abs(err[nonzero] / d[nonzero])) * 100) if nonzero.any() else float("nan"),
        "rmse": mse ** 0.5,
    }
    sm, sd = m.std(), d.std()
    cov = float(np.mean((m - m.mean()) * (d - d.mean())))
    parts = [(m.mean() - d.mean()) ** 2, (sm - sd) ** 2, 2 * (sm * sd - cov)]
    exact = mse <= (1e-9 * float(np.mean(np.abs(d)))) ** 2  # rounding noise, no shares to split
    for key, part in zip(("theil_bias", "theil_variance", "theil_covariance"), parts):
        out[key] = float("nan") if exact or not enough else float(part / mse)
    if not enough:
        out["omitted"] = f"R2 and Theil shares: {d.size} point{'s' if d.size != 1 else ''}, at least {MIN_POINTS} needed"
    elif exact:
        out["omitted"] = "Theil shares: the fit is exact to rounding, no error to split"
    elif sst <= 0:
        out["omitted"] = "R2: the data do not vary"
    return out


@dataclass
class Uncertainty:
    """Standard errors and confidence intervals of fitted parameters, from the Jacobian."""

    std_err: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    correlation: np.ndarray
    warnings: list[str] = field(default_factory=list)


def uncertainty(jac: np.ndarray, residuals: np.ndarray, x: np.ndarray, names: list[str],
                level: float = 0.95) -> Uncertainty:
    """Approximate intervals from the linearised model: cov = s^2 (J'J)^-1, s^2 = SSE/(N - k).

    `jac` holds d residual / d parameter at the fit. Warns about parameters the data cannot
    identify: a flat direction (a tiny singular value of the column-scaled Jacobian, named by
    the parameters that dominate it) or a pair of estimates correlated beyond CORRELATED.
    Those parameters get infinite intervals, because any value along the direction fits.
    """
    n, k = jac.shape
    nan = np.full(k, np.nan)
    warnings: list[str] = []
    dof = n - k
    if dof <= 0:
        warnings.append(f"{n} residuals for {k} parameters: no confidence intervals "
                        "(more data points than parameters are needed)")
    scale = np.linalg.norm(jac, axis=0)
    flat = scale == 0
    for i in np.flatnonzero(flat):
        warnings.append(f"{names[i]}: not identified (the fitted series do not depend on it)")
    scaled = jac[:, ~flat] / scale[~flat]
    kept = [names[i] for i in np.flatnonzero(~flat)]
    _, sv, vt = np.linalg.svd(scaled, full_matrices=False)
    unidentified = set(np.flatnonzero(flat))
    if sv.size and sv[-1] < FLAT * sv[0]:
        weak = vt[-1]
        involved = [kept[i] for i in np.argsort(-np.abs(weak)) if abs(weak[i]) > 0.3]
        warnings.append("not identified together (a flat direction of the payoff): "
                        + ", ".join(involved))
        unidentified |= {names.index(p) for p in involved}
    cov_scaled = np.linalg.pinv(scaled.T @ scaled)
    cov = np.full((k, k), np.nan)
    idx = np.flatnonzero(~flat)
    cov[np.ix_(idx, idx)] = cov_scaled / np.outer(scale[~flat], scale[~flat])
    if dof > 0:
        cov *= float(np.sum(residuals ** 2)) / dof
    sdv = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sdv, sdv)
    for i in range(k):
        for j in range(i + 1, k):
            if abs(corr[i, j]) > CORRELATED and not {i, j} <= unidentified:
                warnings.append(f"{names[i]} and {names[j]}: estimates correlated "
                                f"({corr[i, j]:+.3f}); the data identify a combination, not each")
    std_err = sdv if dof > 0 else nan.copy()
    std_err[list(unidentified)] = np.inf
    half = stats.t.ppf(0.5 + level / 2, dof) * std_err if dof > 0 else nan
    return Uncertainty(std_err, x - half, x + half, corr, warnings)
