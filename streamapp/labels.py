"""One label-to-class mapping for the monitor, the retrainer and registration.

Labels arrive from producers in any JSON shape: ``1``, ``"1"``, ``1.0``,
``True`` and ``"1.0"`` all mean the class ``1`` (or ``"1"``). Every component
maps a label through :func:`canonical`, so the monitor and the retrainer can
never disagree about which class a label is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

LabelKey = int | str


def canonical(value: object) -> LabelKey | None:
    """The comparison key of a label: integral numbers (and numeric text) as ``int``.

    Anything else is kept as its stripped text; unusable values give None.

    >>> [canonical(v) for v in (1, "1", 1.0, True, " 1.0 ", "yes", 2.5, None)]
    [1, 1, 1, 1, 1, 'yes', '2.5', None]
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else repr(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return text
        if math.isfinite(number) and number.is_integer():
            return int(number)
        return repr(number) if math.isfinite(number) else text
    return None


class ClassMap:
    """Maps labels to class indices for one ordered list of classes.

    Raises ``ValueError`` at construction when two classes share a key (e.g. ``1`` and ``"1"``).

    >>> m = ClassMap([0, 1])
    >>> m.index("1"), m.index(True), m.index(1.0), m.index("2")
    (1, 1, 1, None)
    """

    def __init__(self, classes: Sequence[object]) -> None:
        self.classes = list(classes)
        self._index: dict[LabelKey, int] = {}
        for i, cls in enumerate(self.classes):
            key = canonical(cls)
            if key is None:
                raise ValueError(f"class {cls!r} cannot be used as a label")
            if key in self._index:
                raise ValueError(
                    f"classes {self.classes[self._index[key]]!r} and {cls!r} are the same label; "
                    "keep one of them"
                )
            self._index[key] = i

    def index(self, label: object) -> int | None:
        """Class index of ``label``, or None when it is not one of the classes."""
        key = canonical(label)
        return None if key is None else self._index.get(key)

    def require(self, label: object) -> int:
        """Class index of ``label``; raises ``ValueError`` naming the known classes."""
        found = self.index(label)
        if found is None:
            raise ValueError(f"label {label!r} is not one of {self.classes}")
        return found


def regression_target(label: object) -> float | None:
    """A regression label as a finite float (numbers or numeric text), else None.

    >>> regression_target("2.5"), regression_target(3), regression_target(True)
    (2.5, 3.0, None)
    >>> regression_target(10**400) is None
    True
    """
    if isinstance(label, bool) or label is None:
        return None
    if isinstance(label, int | float):
        try:
            number = float(label)
        except OverflowError:  # an integer past float64
            return None
    elif isinstance(label, str):
        try:
            number = float(label.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None
