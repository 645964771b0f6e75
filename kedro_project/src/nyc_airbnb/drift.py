"""Feature profiles and the drift of a scoring batch against the training data.

A *profile* is a small JSON-able summary of listing features: for numeric features the share of
rows in each bin (bins are the training data's quantiles), for categorical features the share of
each category, and each feature's null share. Training logs the profile of its training rows with
the model; scoring profiles its batch on the same bins, chunk by chunk, and compares the two with
the population stability index (PSI), the usual credit-risk and MLOps drift statistic:
below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 significant.

Pure numpy / pandas / matplotlib: no I/O.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

PROFILE_VERSION = 1
OTHER = "__other__"


def _numeric_values(series: pd.Series) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64")
    return values[np.isfinite(values)]


def reference_profile(
    listings: pd.DataFrame, numeric: Iterable[str], categorical: Iterable[str], n_bins: int = 10
) -> dict[str, Any]:
    """Profile of the training rows: quantile bins for numeric features, category shares."""
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    features: dict[str, Any] = {}
    for column in numeric:
        values = _numeric_values(listings[column])
        edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1))) if len(values) else []
        if len(edges) < 2:  # a constant column: one bin around its value
            centre = float(values[0]) if len(values) else 0.0
            edges = np.array([centre - 0.5, centre + 0.5])
        features[column] = {
            "kind": "numeric",
            "bin_edges": [float(e) for e in edges],
            "counts": _bin_counts(values, edges).tolist(),
            "nulls": int(listings[column].isna().sum()),
        }
    for column in categorical:
        counts = listings[column].astype("object").value_counts(dropna=True)
        features[column] = {
            "kind": "categorical",
            "categories": [str(c) for c in counts.index],
            "counts": [int(c) for c in counts.to_numpy()] + [0],  # last: categories unseen here
            "nulls": int(listings[column].isna().sum()),
        }
    return {"version": PROFILE_VERSION, "rows": len(listings), "features": features}


def _bin_counts(values: np.ndarray, edges: np.ndarray | list[float]) -> np.ndarray:
    edges = np.asarray(edges, dtype="float64")
    # values beyond the training range count in the outer bins
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return counts.astype("int64")


def empty_profile_like(reference: Mapping[str, Any]) -> dict[str, Any]:
    """A zero profile on the bins and categories of ``reference``, to accumulate chunks into."""
    features = {
        name: {**spec, "counts": [0] * len(spec["counts"]), "nulls": 0}
        for name, spec in reference["features"].items()
    }
    return {"version": PROFILE_VERSION, "rows": 0, "features": features}


def add_chunk(profile: dict[str, Any], chunk: pd.DataFrame) -> dict[str, Any]:
    """Add the rows of ``chunk`` to ``profile`` (in place; returned for chaining)."""
    profile["rows"] += len(chunk)
    for name, spec in profile["features"].items():
        if name not in chunk:
            continue
        column = chunk[name]
        spec["nulls"] += int(column.isna().sum())
        if spec["kind"] == "numeric":
            counts = _bin_counts(_numeric_values(column), spec["bin_edges"])
        else:
            known = {c: i for i, c in enumerate(spec["categories"])}
            counts = np.zeros(len(spec["counts"]), dtype="int64")
            for value, n in column.dropna().astype(str).value_counts().items():
                counts[known.get(value, len(known))] += int(n)
        spec["counts"] = (np.asarray(spec["counts"], dtype="int64") + counts).tolist()
    return profile


def shares(counts: Iterable[int]) -> np.ndarray:
    arr = np.asarray(list(counts), dtype="float64")
    total = arr.sum()
    return arr / total if total else np.zeros_like(arr)


def psi(actual: Iterable[int], expected: Iterable[int], epsilon: float = 1e-4) -> float:
    """Population stability index of ``actual`` bin counts against ``expected`` ones."""
    a = shares(actual) + epsilon
    e = shares(expected) + epsilon
    a, e = a / a.sum(), e / e.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def drift_table(
    batch: Mapping[str, Any], reference: Mapping[str, Any], warn: float, alert: float
) -> pd.DataFrame:
    """One row per feature: PSI, null shares, status (stable / moderate / significant)."""
    rows = []
    for name, ref in reference["features"].items():
        cur = batch["features"][name]
        value = psi(cur["counts"], ref["counts"])
        status = "significant" if value > alert else "moderate" if value > warn else "stable"
        rows.append(
            {
                "feature": name,
                "kind": ref["kind"],
                "psi": value,
                "status": status,
                "null_share_batch": cur["nulls"] / batch["rows"] if batch["rows"] else 0.0,
                "null_share_training": ref["nulls"] / reference["rows"] if reference["rows"] else 0.0,
            }
        )
    return pd.DataFrame(rows)


def drift_metrics(table: pd.DataFrame) -> dict[str, float]:
    metrics = {f"psi.{r.feature}": float(r.psi) for r in table.itertuples()}
    metrics["psi_max"] = float(table["psi"].max()) if len(table) else 0.0
    metrics["n_features_drifted"] = float((table["status"] == "significant").sum())
    return metrics


def _labels(spec: Mapping[str, Any]) -> list[str]:
    if spec["kind"] == "categorical":
        return [*spec["categories"], "other"]
    edges = spec["bin_edges"]
    return [f"{edges[i]:.4g}" for i in range(len(edges) - 1)]


def drift_figure(
    batch: Mapping[str, Any],
    reference: Mapping[str, Any],
    table: pd.DataFrame,
    prediction_histogram: tuple[np.ndarray, np.ndarray] | None = None,
) -> Figure:
    """Reference vs batch shares for every feature, PSI in each title (red when significant),
    plus the histogram of the batch's predictions when given."""
    names = list(reference["features"])
    panels = len(names) + (prediction_histogram is not None)
    cols = 3
    rows = max(1, -(-panels // cols))
    fig = Figure(figsize=(4.2 * cols, 2.8 * rows), layout="constrained")
    status = table.set_index("feature")
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        ref, cur = reference["features"][name], batch["features"][name]
        x = np.arange(len(ref["counts"]))
        ax.bar(x - 0.2, shares(ref["counts"]), width=0.4, label="training", color="#8da0cb")
        ax.bar(x + 0.2, shares(cur["counts"]), width=0.4, label="batch", color="#fc8d62")
        labels = _labels(ref)
        step = max(1, len(labels) // 6)
        ax.set_xticks(x[::step], labels[::step], rotation=30, fontsize=7, ha="right")
        row = status.loc[name]
        colour = {"significant": "#c0392b", "moderate": "#d68910"}.get(row["status"], "black")
        ax.set_title(f"{name}  PSI {row['psi']:.3f} ({row['status']})", fontsize=9, color=colour)
        ax.tick_params(axis="y", labelsize=7)
        if i == 0:
            ax.legend(fontsize=7)
    if prediction_histogram is not None:
        counts, edges = prediction_histogram
        ax = fig.add_subplot(rows, cols, panels)
        ax.stairs(counts, edges, fill=True, color="#66c2a5")
        ax.set_title("predicted price (batch; the top 1% in the last bin)", fontsize=9)
        ax.set_xlabel("USD per night", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"Batch of {batch['rows']} rows vs training data ({reference['rows']} rows)")
    return fig


def drift_html(
    table: pd.DataFrame, figure: Figure, title: str, summary: Mapping[str, Any]
) -> str:
    """A self-contained HTML report: the summary, the PSI table and the figure inline."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    image = base64.b64encode(buffer.getvalue()).decode("ascii")
    summary_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    shown = table.assign(
        psi=table["psi"].map("{:.4f}".format),
        null_share_batch=table["null_share_batch"].map("{:.2%}".format),
        null_share_training=table["null_share_training"].map("{:.2%}".format),
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        ".significant{color:#c0392b;font-weight:bold}.moderate{color:#d68910}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{summary_rows}</table>"
        "<p>PSI: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 significant.</p>"
        + shown.to_html(index=False, classes="drift", border=0)
        + f"<img alt='drift plots' src='data:image/png;base64,{image}'>"
        "</body></html>"
    )
