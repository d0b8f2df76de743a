"""A connector's transforms: parsed from its flat config, applied to each record in order.

The config is Kafka Connect's::

    transforms: unwrap,route                      # aliases, in order (or a YAML list)
    transforms.route.type: RegexRouter            # class name or short name
    transforms.route.regex: (.*)\\.public\\.(.*)    # the transform's own properties
    transforms.route.predicate: isOrders          # optional: apply only when it holds
    transforms.route.negate: false                # ... or only when it does not
    predicates: isOrders
    predicates.isOrders.type: TopicNameMatches
    predicates.isOrders.pattern: .*orders
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.runtime.transforms.base import Predicate, R, Transform
from hub.runtime.transforms.errors import TransformConfigError, TransformError
from hub.runtime.transforms.props import Props, show, split_list

if TYPE_CHECKING:
    from hub.runtime.transforms.registry import Plugin, T

KINDS = ("transforms", "predicates")


@dataclass(frozen=True, slots=True)
class Stage:
    """One transform of the chain, with the predicate that guards it."""

    alias: str
    type_name: str
    transform: Transform
    predicate: Predicate | None = None
    negate: bool = False
    class_name: str = ""  # Connect's class of the transform (`Plugin.class_name`)

    def apply(self, record: R) -> R | None:
        if self.predicate is not None and self.predicate.test(record) == self.negate:
            return record
        try:
            return self.transform.apply(record)
        except TransformError as exc:
            raise TransformError(
                f"{self.type_name}: {exc.reason}", alias=self.alias, topic=record.topic
            ) from exc


class TransformChain:
    """The stages in config order; stateless after building, so safe to share."""

    def __init__(self, stages: Sequence[Stage] = (), properties: set[str] | None = None) -> None:
        self.stages = tuple(stages)
        self._properties = set(properties or ())

    def apply(self, record: R) -> R | None:
        """The record after every stage, or None as soon as one drops it. An exception says
        which transform raised it (``transform_type``: its Connect class name), for a dead
        letter queue's ``class.name`` as Kafka Connect writes it."""
        for stage in self.stages:
            try:
                out = stage.apply(record)
            except Exception as exc:
                with contextlib.suppress(AttributeError):  # (an exception without a __dict__)
                    exc.transform_type = stage.class_name  # type: ignore[attr-defined]
                raise
            if out is None:
                return None
            record = out
        return record

    def properties(self) -> set[str]:
        """The config keys this chain consumed (``transforms``, ``transforms.x.type``, ...)."""
        return set(self._properties)

    def __bool__(self) -> bool:
        return bool(self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    def __repr__(self) -> str:
        return f"TransformChain({', '.join(f'{s.alias}={s.type_name}' for s in self.stages)})"


def _aliases(kind: str, config: Mapping[str, Any], problems: list[str]) -> list[str]:
    raw = config.get(kind)
    if isinstance(raw, dict):
        problems.append(f"{kind} = {raw!r}: expected a comma-separated list of aliases")
        return []
    aliases = split_list(raw)
    for alias in sorted({a for a in aliases if aliases.count(a) > 1}):
        problems.append(f"{kind} = {raw!r}: duplicate alias {alias!r}")
    return list(dict.fromkeys(aliases))


def _group(
    config: Mapping[str, Any], aliases: dict[str, list[str]], problems: list[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(kind, alias): {property: value}}`` out of the flat keys."""
    groups: dict[tuple[str, str], dict[str, Any]] = {
        (kind, a): {} for kind in KINDS for a in aliases[kind]
    }
    for key, value in config.items():
        kind, dot, rest = key.partition(".")
        if kind not in KINDS or not dot:
            continue
        matches = [a for a in aliases[kind] if rest.startswith(a + ".")]
        if not matches:
            listed = ", ".join(aliases[kind]) or "nothing"
            problems.append(
                f"{key} = {show(key, value)}: no alias of {kind} matches ({kind} lists "
                f"{listed}); add the alias to {kind} or remove this property"
            )
            continue
        alias = max(matches, key=len)
        groups[(kind, alias)][rest[len(alias) + 1 :]] = value
    return groups


def _plugin(props: Props, kind: str, known: Mapping[str, Plugin[T]]) -> Plugin[T] | None:
    name = props.string("type", required=f"the class of this {kind}; its alias is listed")
    if name is None:
        return None
    plugin = known.get(name.strip())
    if plugin is None:
        from hub.runtime.transforms.registry import unknown_type

        props.problem("type", unknown_type(kind, name.strip(), known))
    return plugin


def _build(props: Props, plugin: Plugin[T] | None) -> T | None:
    """The plugin configured from ``props``, then a problem for each property left over."""
    if plugin is None:
        return None
    built = plugin.factory(props)
    props.finish(plugin.type_name, plugin.unsupported)
    return built


def _guard(props: Props, predicates: list[str]) -> tuple[str | None, bool]:
    """``predicate`` and ``negate`` of a transform."""
    alias = props.string("predicate", non_empty=True)
    negate = props.boolean("negate", False)
    if props.has("negate") and alias is None:
        props.problem("negate", f"there is no {props.full('predicate')} to negate")
    if alias is not None and alias not in predicates:
        listed = ", ".join(predicates) or "nothing"
        props.problem("predicate", f"no such predicate alias (predicates lists {listed})")
    return alias, negate


def build_chain(config: Mapping[str, Any]) -> TransformChain:
    """Parse the ``transforms*`` and ``predicates*`` properties of a flat connector config.
    Raises ``TransformConfigError`` (a ``ConfigError``) listing every problem at once."""
    problems: list[str] = []
    aliases = {kind: _aliases(kind, config, problems) for kind in KINDS}
    groups = _group(config, aliases, problems)
    if aliases["predicates"] or aliases["transforms"]:  # only then: the transforms' imports
        from hub.runtime.transforms.registry import PREDICATES, TRANSFORMS
    predicates: dict[str, Predicate] = {}
    for alias in aliases["predicates"]:
        props = Props(f"predicates.{alias}.", groups[("predicates", alias)], problems)
        predicate = _build(props, _plugin(props, "predicate", PREDICATES))
        if predicate is not None:
            predicates[alias] = predicate
    stages = []
    for alias in aliases["transforms"]:
        props = Props(f"transforms.{alias}.", groups[("transforms", alias)], problems)
        plugin = _plugin(props, "transform", TRANSFORMS)
        guard, negate = _guard(props, aliases["predicates"])
        transform = _build(props, plugin)
        if plugin is not None and transform is not None:
            guarded = predicates.get(guard) if guard else None
            stages.append(Stage(alias, plugin.type_name, transform, guarded, negate,
                                plugin.class_name or plugin.type_name))  # fmt: skip
    if problems:
        raise TransformConfigError(problems)
    used = {k for k in config if k.partition(".")[0] in KINDS}
    return TransformChain(stages, used)
