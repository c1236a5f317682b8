"""The one parser of ``NAME=VALUE,NAME=VALUE`` text typed on the command line.

``--columns user=uid,item=iid`` (which column holds what, README "Data sets")
and ``--new-user age=25,gender=F`` (a new user's raw features) share it.
"""

from __future__ import annotations

COLUMN_ROLES = ("user", "item", "rating", "timestamp")


def parse_assignments(
    text: str,
    *,
    what: str = "assignments",
    example: str = "name=value",
    names: tuple[str, ...] | None = None,
) -> dict[str, str]:
    """'a=1, b = x' -> {'a': '1', 'b': 'x'}: comma-separated ``NAME=VALUE`` pairs.

    Spaces around names and values are dropped, empty parts are skipped, a value
    may be empty ('a=') and may hold '=' ('a=b=c' gives 'b=c'); a repeated name
    keeps its last value.

    Args:
        text: the pairs, e.g. "user=uid,item=iid".
        what: what the pairs are, for error messages ("column mapping").
        example: a valid text, shown in error messages.
        names: the allowed names; None allows any.

    Returns:
        {name: value} in the order of the text, both stripped strings.

    Raises:
        ValueError: a part has no '=' or no name ("expected NAME=VALUE"), or a
            name is not one of ``names``.

    >>> parse_assignments("age=25, gender=F")
    {'age': '25', 'gender': 'F'}
    >>> parse_assignments("age", what="feature values", example="age=25")
    Traceback (most recent call last):
    ...
    ValueError: feature values: expected NAME=VALUE (e.g. 'age=25'), got 'age'
    """
    pairs = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(
                f"{what}: expected NAME=VALUE (e.g. {example!r}), got {part!r}"
            )
        if names is not None and name not in names:
            raise ValueError(
                f"{what}: {name!r} in {part!r} is not one of {', '.join(names)} "
                f"(e.g. {example!r})"
            )
        pairs[name] = value.strip()
    return pairs


def parse_columns(text: str) -> dict[str, str]:
    """``--columns``: {role: source column} with roles user, item, rating, timestamp.

    Raises:
        ValueError: a part is not ``NAME=COLUMN`` or names another role.

    >>> parse_columns("user=uid, rating=stars")
    {'user': 'uid', 'rating': 'stars'}
    """
    return parse_assignments(
        text, what="column mapping", example="user=uid,item=movie", names=COLUMN_ROLES
    )


def parse_feature_values(text: str) -> dict[str, str]:
    """``--new-user``: a new user's raw feature values {column: value}.

    Raises:
        ValueError: a part is not ``NAME=VALUE``.

    >>> parse_feature_values("age=25,gender=F")
    {'age': '25', 'gender': 'F'}
    """
    return parse_assignments(text, what="feature values", example="age=25,gender=F")
