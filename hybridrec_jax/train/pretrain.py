"""NCF's pre-training: NeuMF started from a trained GMF and a trained MLP."""

from __future__ import annotations

import jax.numpy as jnp

from hybridrec_jax.model import Params


def neumf_from_pretrained(
    gmf_params: Params, mlp_params: Params, alpha: float = 0.5
) -> Params:
    """NeuMF parameters whose logit is alpha z_GMF + (1 - alpha) z_MLP exactly.

    NCF's pre-training (He et al. 2017, section 3.4.1): train GMF and MLP
    apart, then start NeuMF from both, the two branches weighted by alpha. Here
    the MLP part (embeddings, layers, head, biases) is scaled by 1 - alpha and
    the GMF factors P', Q' by sqrt(alpha) each, so that their product is scaled
    by alpha. The GMF's dot_dim must equal the NeuMF's, the MLP's shapes too;
    the MLP may use content features (a hybrid NeuMF), whose maps V into the
    dot branch then start at zero.

    Args:
        gmf_params: parameters of a trained ``VARIANTS["gmf"]`` (dot branch k).
        mlp_params: parameters of a trained ``VARIANTS["mlp"]`` (or
            ``"hybrid_mlp"``), same users and items.
        alpha: the weight of the GMF branch, in [0, 1].

    Returns:
        Parameters of the NeuMF configuration (the MLP's with ``dot_dim`` k).
    """
    mlp_emb, gmf_emb = mlp_params["embeddings"], gmf_params["embeddings"]
    root = alpha**0.5
    embeddings = {
        **mlp_emb,
        "user_dot": root * gmf_emb["user_dot"],
        "item_dot": root * gmf_emb["item_dot"],
        "user_bias": (1 - alpha) * mlp_emb["user_bias"],
        "item_bias": (1 - alpha) * mlp_emb["item_bias"],
    }
    head = mlp_params["dense"]["head"]
    gmf_bias = gmf_params["dense"]["head"]["b"]
    k = gmf_emb["user_dot"].shape[1]
    feature_maps = {}  # V: the GMF's where it has them, else zero (content MLP)
    for name in ("user_feature_dot", "item_feature_dot"):
        n_features = mlp_params["dense"][name].shape[0]
        gmf_map = gmf_params["dense"][name]
        same = gmf_map.shape == (n_features, k)
        feature_maps[name] = root * gmf_map if same else jnp.zeros((n_features, k))
    dense = {
        **mlp_params["dense"],
        **feature_maps,
        "head": {
            "w": (1 - alpha) * head["w"],
            "b": (1 - alpha) * head["b"] + alpha * gmf_bias,
        },
    }
    return {"embeddings": embeddings, "dense": dense}
