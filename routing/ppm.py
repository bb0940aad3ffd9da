"""Performance prediction models (docs/METHOD.md, PPM), scikit-learn style.

``PPM(kind, mode)``: linear, quadratic (degree-2 expansion with squares, interactions and bias) or LightGBM.
Paper mode: unscaled least squares (with ~160 rows and 4,186 columns the quadratic interpolates its training
set, as the authors' did). Recommended: standardised features and ridge with the penalty chosen by
cross-validation (efficient leave-one-out). Linear and quadratic PPMs expose their explicit form
f(x) = c + g.x + x'Qx, which makes prediction of 10^5 candidates cheap and gives every marginal gain of
greedy routing in one product.

A fitted PPM is an artifact: :meth:`PPM.save` writes the estimator with its metadata (feature names, tag
versions, training data reference, metrics, seed, mode) and :func:`load_ppm` reads it back.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from routing.config import Mode, get_mode

KINDS = ("linear", "quadratic", "lightgbm")
FORMAT_VERSION = 1
# The paper's Table 2: held-out Spearman and RMSE (x100) of each PPM kind, printed beside ours.
PAPER_TABLE2 = {"quadratic": (0.673, 0.201), "linear": (0.515, 0.239), "lightgbm": (0.377, 0.481)}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Held-out Spearman rho and RMSE (same units as y)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    rho = float(spearmanr(y_true, y_pred).statistic) if len(y_true) > 1 else float("nan")
    return {"spearman": rho, "rmse": float(np.sqrt(np.mean((y_true - y_pred) ** 2))), "n": int(len(y_true))}


class PPM(RegressorMixin, BaseEstimator):
    """Regressor from a candidate's feature vector to measured reward-model performance."""

    def __init__(
        self,
        kind: str = "quadratic",
        mode: str = "recommended",
        alphas: tuple[float, ...] = tuple(np.logspace(-4, 5, 28)),
        random_state: int = 0,
        lgbm_params: dict | None = None,
    ) -> None:
        self.kind = kind
        self.mode = mode
        self.alphas = alphas
        self.random_state = random_state
        self.lgbm_params = lgbm_params

    # ----------------------------------------------------------------- fit / predict

    def _mode(self) -> Mode:
        return get_mode(self.mode)

    def _estimator(self) -> Any:
        mode = self._mode()
        if self.kind not in KINDS:
            raise ValueError(f"PPM kind {self.kind!r}: expected one of {KINDS}")
        if self.kind == "lightgbm":
            from lightgbm import LGBMRegressor

            params = {
                "random_state": self.random_state,
                "verbose": -1,
                "n_jobs": 1,
                **(self.lgbm_params or {}),
            }
            return LGBMRegressor(**params)
        steps: list[tuple[str, Any]] = []
        if self.kind == "quadratic":
            steps.append(("poly", PolynomialFeatures(2, include_bias=not mode.standardize)))
        if mode.standardize:
            steps.append(("scale", StandardScaler()))
        if mode.ridge_cv:
            steps.append(("reg", RidgeCV(alphas=np.asarray(self.alphas))))
        else:
            steps.append(("reg", LinearRegression(fit_intercept=self.kind != "quadratic")))
        return Pipeline(steps)

    def fit(self, X: np.ndarray, y: np.ndarray, feature_names: list[str] | None = None) -> PPM:
        X = self._check_X(X, fitting=True)
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(y) != X.shape[0]:
            raise ValueError(f"PPM.fit: {X.shape[0]} rows of X but {len(y)} targets")
        if not np.all(np.isfinite(y)):
            raise ValueError("PPM.fit: targets contain NaN or infinity")
        self.estimator_ = self._estimator().fit(X, y)
        self.n_features_in_ = X.shape[1]
        self.feature_names_ = list(feature_names) if feature_names is not None else None
        self.X_train_ = X.copy()
        self.y_train_ = y.copy()
        self.form_ = self._explicit_form() if self.kind != "lightgbm" else None
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = self._check_X(X)
        if self.form_ is None:
            return np.asarray(self.estimator_.predict(X), dtype=np.float64)
        c, g, Q = self.form_
        return c + X @ g + np.einsum("kf,kf->k", X @ Q, X)

    def _check_X(self, X: np.ndarray, fitting: bool = False) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"PPM: X must be 2-D (candidates x features), got shape {X.shape}")
        if not fitting:
            if not hasattr(self, "estimator_"):
                raise ValueError("PPM is not fitted: call fit() or load_ppm() first")
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"PPM: X has {X.shape[1]} features, the PPM was fitted on {self.n_features_in_}"
                )
        return X

    # ----------------------------------------------------------------- explicit form

    def _explicit_form(self) -> tuple[float, np.ndarray, np.ndarray]:
        """(c, g, Q) with f(x) = c + g.x + x'Qx in the raw feature space (scaler folded in)."""
        steps = dict(self.estimator_.named_steps)
        reg = steps["reg"]
        w = np.asarray(reg.coef_, dtype=np.float64).ravel()
        c = float(reg.intercept_)
        if "scale" in steps:
            sc = steps["scale"]
            w = w / sc.scale_
            c -= float(np.dot(w, sc.mean_))
        F = self.n_features_in_
        g = np.zeros(F)
        Q = np.zeros((F, F))
        if "poly" not in steps:
            return c, w, Q
        for coef, powers in zip(w, steps["poly"].powers_, strict=True):
            nz = np.nonzero(powers)[0]
            if powers.sum() == 0:
                c += coef
            elif powers.sum() == 1:
                g[nz[0]] += coef
            elif len(nz) == 1:
                Q[nz[0], nz[0]] += coef
            else:
                Q[nz[0], nz[1]] += coef / 2
                Q[nz[1], nz[0]] += coef / 2
        return c, g, Q

    def marginal_gains(self, x: np.ndarray, D: np.ndarray) -> np.ndarray:
        """f(x + D_i) - f(x) for every row D_i (one product for linear/quadratic; N predictions for LightGBM)."""
        x = np.asarray(x, dtype=np.float64).ravel()
        if self.form_ is None:
            base = self.predict(x[None, :])[0]
            return self.predict(x[None, :] + D) - base
        _, g, Q = self.form_
        return D @ (g + 2 * Q @ x) + np.einsum("nf,nf->n", D @ Q, D)

    # ----------------------------------------------------------------- evaluation and persistence

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Held-out Spearman rho and RMSE; stored in ``metrics_`` for the artifact."""
        self.metrics_ = regression_metrics(y, self.predict(X))
        return self.metrics_

    def save(self, path: str | Path, **metadata: Any) -> Path:
        """Write the fitted PPM (joblib) and a readable ``.json`` beside it; metadata is merged in."""
        if not hasattr(self, "estimator_"):
            raise ValueError("PPM.save: the PPM is not fitted")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "mode": self._mode().to_dict(),
            "params": {k: v for k, v in self.get_params().items() if k != "alphas"},
            "feature_names": self.feature_names_,
            "n_features": self.n_features_in_,
            "n_train": int(len(self.y_train_)),
            "metrics": getattr(self, "metrics_", None),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **metadata,
        }
        self.metadata_ = meta
        joblib.dump({"ppm": self, "metadata": meta}, path)
        path.with_suffix(path.suffix + ".json").write_text(json.dumps(meta, indent=2, default=str))
        return path


def load_ppm(path: str | Path) -> PPM:
    """A PPM saved by :meth:`PPM.save`, with ``metadata_`` set."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PPM artifact {path} does not exist")
    data = joblib.load(path)
    if not isinstance(data, dict) or "ppm" not in data:
        raise ValueError(f"{path} is not a PPM artifact")
    ppm = data["ppm"]
    ppm.metadata_ = data["metadata"]
    return ppm
