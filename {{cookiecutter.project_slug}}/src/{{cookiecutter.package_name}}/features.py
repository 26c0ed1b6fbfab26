"""Preprocessing built from the schema: imputation and scaling for numbers, one-hot for categories."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .config import FeaturesConfig
from .schema import Schema


def build_preprocessor(schema: Schema, config: FeaturesConfig) -> ColumnTransformer:
    """Missing values are imputed in both branches, so a nullable column never reaches the estimator."""
    numeric_steps = [("impute", SimpleImputer(strategy=config.numeric_imputer))]
    if config.scale_numeric:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ]
    transformers = []
    if schema.numeric_features:
        transformers.append(("numeric", Pipeline(numeric_steps), schema.numeric_features))
    if schema.categorical_features:
        transformers.append(("categorical", Pipeline(categorical_steps), schema.categorical_features))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
