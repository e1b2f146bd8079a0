"""Which variant an item of a variants eval runs, and the case it pairs on (`variants=`).

The marker's `variants="model"` names a parametrize argument of the test. An item's
variant label is pytest's id for that argument's value (so a dict or a config object
gets the id pytest gives it, or the one `ids=` gives it), and its pairing key is the
test's node id without that id (nor the repeat's `rN`), the same for every variant of
one case. Labels of every variant of a test are gathered at collection, before -k or
-m deselect any, so `reference=` is checked against all of them.

pytest keeps the id of each parametrize call of an item in `CallSpec._idlist`, a private
attribute (it has no public per-argument id); it is read here, and only here, and an
item whose ids cannot be matched to its arguments is an error naming the fix (`ids=`).
Standard library and pytest only: loaded with the first item of a variants eval.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_llmeval.records.spec import EvalSpec, SpecError

#: Test function node id -> its variants' labels in the order collection met them (the
#: order of the parametrize values), over every item collected (before deselection).
variant_labels_key = pytest.StashKey[dict[str, list[str]]]()


@dataclass(frozen=True)
class ItemVariant:
    """One item's place in its test's variants."""

    axis: str
    label: str
    case: str


def _argnames(marker: Any) -> tuple[str, ...]:
    """The argument names of a parametrize marker, as pytest splits them."""
    names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
    if isinstance(names, str):
        return tuple(name.strip() for name in names.split(",") if name.strip())
    return tuple(str(name) for name in names)


def _slots(item: Any, params: Iterable[str]) -> list[tuple[str, ...]]:
    """The item's parametrize calls in order, each as the argument names it set: the
    names of one call are set together (the marker's names), any other name alone."""
    groups = [_argnames(marker) for marker in item.iter_markers("parametrize")]
    keys = list(params)
    slots: list[tuple[str, ...]] = []
    position = 0
    while position < len(keys):
        slot: tuple[str, ...] = (keys[position],)
        for names in groups:
            if names and tuple(keys[position : position + len(names)]) == names:
                slot = names
                break
        slots.append(slot)
        position += len(slot)
    return slots


def item_variant(item: Any, spec: EvalSpec, function_nodeid: str, hidden: str) -> ItemVariant:
    """The item's variant label and pairing key; `hidden` is the repeat's own argument
    (left out of the pairing key). Raises SpecError when `variants=` names no
    parametrize argument of the item or its ids cannot be told apart."""
    axis = spec.variants
    if axis is None:
        raise ValueError("the item's marker has no variants=")
    callspec = getattr(item, "callspec", None)
    params: dict[str, Any] = dict(callspec.params) if callspec is not None else {}
    params.pop(hidden, None)
    if axis not in params:
        others = ", ".join(repr(name) for name in params) or "none"
        raise SpecError(
            f"{item.nodeid}: @pytest.mark.llm_eval(variants={axis!r}) names no parametrize "
            f"argument of this test (its parametrize arguments: {others}). Add "
            f"@pytest.mark.parametrize({axis!r}, [...]) with the variants to the test, or "
            "name the argument that holds them."
        )
    ids = [str(part) for part in getattr(callspec, "_idlist", ())]
    slots = _slots(item, callspec.params if callspec is not None else ())
    if len(slots) != len(ids):
        raise SpecError(
            f"{item.nodeid}: @pytest.mark.llm_eval(variants={axis!r}): cannot tell which "
            f"part of the test id is the variant ({len(ids)} ids for {len(slots)} "
            "parametrized arguments: a hidden id, or arguments parametrized together by a "
            "hook). Give the variants visible ids with ids=[...] in their own "
            "@pytest.mark.parametrize."
        )
    position = next(i for i, slot in enumerate(slots) if axis in slot)
    rest = [ids[i] for i, slot in enumerate(slots) if i != position and slot != (hidden,)]
    case = f"{function_nodeid}[{'-'.join(rest)}]" if rest else function_nodeid
    return ItemVariant(axis, ids[position], case)


def gather_labels(
    items: Iterable[Any], spec_of: Any, function_of: Any, hidden: str
) -> dict[str, list[str]]:
    """Every collected test function's variant labels, in collection order (pytest's
    `callspec.indices` of a direct argument count items, not values, so the order is
    the items'); items whose marker or ids are wrong are left out (their setup says so)."""
    labels: dict[str, list[str]] = {}
    for item in items:
        spec = spec_of(item)
        if isinstance(spec, str) or spec.variants is None:
            continue
        function = function_of(item)
        try:
            variant = item_variant(item, spec, function, hidden)
        except SpecError:
            continue
        known = labels.setdefault(function, [])
        if variant.label not in known:
            known.append(variant.label)
    return labels


def reference_of(spec: EvalSpec, nodeid: str, ordered: list[str]) -> str:
    """The variant the others are compared with: the marker's reference=, which must be
    one of the labels, else the first variant."""
    if spec.reference is None:
        return ordered[0]
    if spec.reference not in ordered:
        raise SpecError(
            f"{nodeid}: @pytest.mark.llm_eval(reference={spec.reference!r}) is not one of the "
            f"variants of {spec.variants!r}: {', '.join(repr(label) for label in ordered)} "
            "(their parametrize ids); name one of those."
        )
    return spec.reference


def variant_tag(
    item: Any,
    spec: EvalSpec,
    function_nodeid: str,
    hidden: str,
    labels: dict[str, list[str]] | None,
) -> Any:
    """The item's `records.models.VariantTag` (its variant, pairing key and reference);
    `labels` are the gathered labels of every test, None when collection gathered none.
    Raises SpecError naming the test when the marker's variants= or reference= is wrong."""
    from pytest_llmeval.records.models import VariantTag

    variant = item_variant(item, spec, function_nodeid, hidden)
    known = list((labels or {}).get(function_nodeid, []))
    if not known and spec.reference is not None:
        # gathered nothing for this test (a marker added after collection): the
        # reference cannot be checked against the other variants, only named
        reference = spec.reference
    else:
        reference = reference_of(spec, item.nodeid, known or [variant.label])
    if variant.label not in known:
        known.append(variant.label)
    return VariantTag(
        axis=variant.axis,
        label=variant.label,
        index=known.index(variant.label),
        case=variant.case,
        reference=reference,
    )
