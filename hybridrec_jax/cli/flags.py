"""The argparse pieces the command modules share: the help formatter, the
comma-separated integers reader, and one ``--field-name`` flag per field of a
config dataclass (``ModelConfig``, ``TrainConfig``) read back into the config.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

from hybridrec_jax.config import (
    ACTIVATIONS,
    EMBEDDING_UPDATES,
    LOSSES,
    OPTIMIZERS,
    SAMPLERS,
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" only where the help does not already say it."""

    def _get_help_string(self, action):
        if "default" in (action.help or "") or action.default in (None, ""):
            return action.help
        return super()._get_help_string(action)


def _parse_ints(text: str) -> tuple[int, ...]:
    """'128,64' -> (128, 64); '' or 'none' -> () (no hidden layer).

    argparse names this function in its error ("invalid _parse_ints value")."""
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(int(part) for part in text.split(","))


# The allowed values of the config fields that take one of a few names.
_CHOICES = {
    "activation": ACTIVATIONS, "optimizer": OPTIMIZERS, "loss": LOSSES,
    "sampler": SAMPLERS, "embedding_updates": EMBEDDING_UPDATES,
}  # fmt: skip


_NOTES = {
    "metric": "; '' picks rmse for --loss mse, hr@10 for --loss bce",
    "momentum": "; --optimizer sgd only",
    "embedding_updates": "; row_sparse: only the id rows a batch touches",
}


def _add_config_flags(parser: argparse.ArgumentParser, config_class) -> None:
    """One ``--field-name`` flag per dataclass field, typed from its annotation."""
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        help_text = f"{config_class.__name__}.{f.name} (default: {f.default!r})"
        help_text += _NOTES.get(f.name, "")
        if kind is bool:
            parser.add_argument(
                flag, dest=f.name, default=None,
                action=argparse.BooleanOptionalAction, help=help_text,
            )  # fmt: skip
        elif kind == tuple[int, ...]:
            parser.add_argument(
                flag, dest=f.name, default=None, type=_parse_ints,
                help=help_text + "; comma-separated",
            )  # fmt: skip
        else:
            parser.add_argument(
                flag, dest=f.name, default=None, type=kind, help=help_text,
                choices=_CHOICES.get(f.name),
            )  # fmt: skip


def _config_from_args(args: argparse.Namespace, config_class, make=None):
    """``make(**flags given)``; ``make`` defaults to the class itself (its
    defaults), e.g. ``TrainConfig.ranking`` for the ranking task's."""
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config_class)
        if getattr(args, f.name, None) is not None
    }
    return (make or config_class)(**given)
