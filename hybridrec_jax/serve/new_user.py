"""A new user's content row x_u from raw ``name=value`` pairs (predict time).

The values are read as the training table was read (README "Data sets"): a
multi-valued column split on its separator, numbers checked, unseen categories
mapped to "unknown" with a note, then encoded with the encoder fitted on the
training users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hybridrec_jax.data.encoders import encode
from hybridrec_jax.data.generic import split_tokens
from hybridrec_jax.serve.saved_model import Recommender


def _raw_value(feature, value: str, notes: list[str]):
    """One typed-in value as the training table held it (see
    :func:`user_feature_row`); ``notes`` collects what was mapped to unknown."""
    name = feature.column
    if value.strip() == "":
        return None  # missing: imputed as for the training users
    if feature.kind in ("numeric", "bucket"):
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is None or not np.isfinite(number):
            raise ValueError(
                f"feature {name!r} is numeric: expected a finite number, got "
                f"{value!r} (e.g. {name}=25)"
            )
        return number
    if feature.kind == "multihot":
        tokens = split_tokens(value, feature.separator) or []
        unseen = [t for t in tokens if t not in feature.categories]
        if unseen:
            notes.append(
                f"{name}: {', '.join(map(repr, unseen))} never seen in training; "
                f"ignored (known: {', '.join(feature.categories)})"
            )
        return tokens
    if feature.kind == "categorical" and value not in feature.categories:
        notes.append(f"{name}: {value!r} never seen in training; mapped to 'unknown'")
    return value


def user_feature_row(
    rec: Recommender, values: dict[str, str], notes: list[str] | None = None
) -> np.ndarray:
    """x_u for a new user from raw feature values.

    With the fitted encoder (saved by ``hybridrec train``) the values go through
    the same imputation and encoding as the training users' (numbers
    standardised as (x - mean) / std with the training mean and std, a missing
    value imputed and flagged, categories one-hot with unseen values as
    "unknown", a multi-valued column split on its separator, ``tags=music|art``
    setting both columns); columns the encoder does not make (e.g. interaction
    summaries, unknown for a new user) stay 0. Without it, each "name=value"
    sets the one-hot column named "name=value" (or "name=unknown" if that value
    was never seen) and a numeric column named "name" takes the value as given.

    Args:
        rec: the recommender.
        values: {raw column: value as text}, e.g. {"age": "25", "gender": "F"}.
        notes: if given, a line is appended for each value never seen in
            training (mapped to "unknown", or an ignored tag).

    Returns:
        (F_u,) float32, in the order of ``rec.user_feature_names``.

    Raises:
        ValueError: a column the model does not know, or a numeric feature
            whose value is not a finite number (naming the feature).
    """
    notes = [] if notes is None else notes
    names = rec.user_feature_names
    row = np.zeros(len(names), np.float32)
    position = {name: j for j, name in enumerate(names)}
    if rec.user_encoder is not None:
        fitted = {f.column: f for f in rec.user_encoder.features}
        unknown = set(values) - set(fitted)
        if unknown:
            raise ValueError(f"unknown user features {sorted(unknown)}; known: "
                             f"{sorted(fitted)}")  # fmt: skip
        table = pd.DataFrame([{
            c: _raw_value(f, values[c], notes) if c in values else None
            for c, f in fitted.items()
        }])  # fmt: skip
        encoded = encode(table, rec.user_encoder)[0]
        for name, value in zip(rec.user_encoder.names, encoded, strict=True):
            row[position[name]] = value
        return row
    for name, value in values.items():
        if f"{name}={value}" in position:
            row[position[f"{name}={value}"]] = 1.0
        elif f"{name}=unknown" in position:
            row[position[f"{name}=unknown"]] = 1.0
            notes.append(f"{name}: {value!r} never seen in training; mapped to "
                         "'unknown'")  # fmt: skip
        elif name in position:
            try:
                row[position[name]] = float(value)
            except ValueError:
                raise ValueError(
                    f"feature {name!r} is numeric: expected a number, got {value!r}"
                ) from None
        else:
            raise ValueError(f"unknown user feature {name!r}; the model's features "
                             f"are {', '.join(names)}")  # fmt: skip
    return row
