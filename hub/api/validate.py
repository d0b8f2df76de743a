"""``PUT /connector-plugins/{plugin}/config/validate``: Kafka Connect's ConfigInfos shape.

Every property of the runtime (``CommonConfig``) and of the plugin's ``config_model`` gets a
``definition`` and a ``value`` (masked when secret) with its errors; a problem about a
property hub does not define gets an entry of its own. ``error_count`` counts them all.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic.fields import FieldInfo

from hub.config import MASK, ConnectorSpec, is_secret, mask, resolve, scrub, shown
from hub.errors import ConfigError
from hub.runtime import plugins
from hub.runtime.validation import CommonConfig, validate

_PROP = re.compile(r"^\s*-\s+([A-Za-z0-9_.\-\[\]]+)")


def _definition(
    name: str, f: FieldInfo, group: str, order: int, secret: bool = False
) -> dict[str, Any]:
    required = f.is_required()
    default = None if required else f.get_default(call_default_factory=True)
    type_name = getattr(f.annotation, "__name__", str(f.annotation)).upper()
    kind = {"INT": "INT", "FLOAT": "DOUBLE", "BOOL": "BOOLEAN", "LIST": "LIST"}.get(
        type_name, "STRING" if type_name in ("STR", "LITERAL") else type_name
    )
    return {
        "name": name,
        "type": "PASSWORD" if secret else kind,  # (Connect's type of a secret)
        "required": required,
        "default_value": None if default is None else str(default),
        "importance": "HIGH" if required else "MEDIUM",
        "documentation": f.description or "",
        "group": group,
        "width": "NONE",
        "order_in_group": order,
        "display_name": name,
        "dependents": [],
        "order": order,
    }


def _problems(message: str) -> list[tuple[str, str]]:
    """(property, message) pairs out of a ConfigError's ``  - prop ...: msg`` lines."""
    out = []
    for line in message.splitlines()[1:] or [message]:
        m = _PROP.match(line)
        text = line.strip().removeprefix("- ")
        out.append((m.group(1) if m else "", text))
    return out


def _fields(cls: Any) -> list[tuple[str, FieldInfo, str]]:
    """(property, field, group) of the runtime's properties, then the plugin's."""
    fields = [(f.alias or n, f, "Common") for n, f in CommonConfig.model_fields.items()]
    return fields + [(f.alias or n, f, cls.name) for n, f in cls.config_model.model_fields.items()]


def config_keys(plugin: str) -> list[dict[str, Any]]:
    """``GET /connector-plugins/{plugin}/config``: the definition of each property."""
    cls = plugins.resolve(plugin, {"connector.class": plugin}, untrusted=True)
    secret = set(cls.secret_properties)
    out = []
    orders: dict[str, int] = {}
    for prop, f, group in _fields(cls):
        order = orders[group] = orders.get(group, 0) + 1
        out.append(_definition(prop, f, group, order, prop in secret or is_secret(prop)))
    return out


def config_infos(plugin: str, config: dict[str, Any]) -> dict[str, Any]:
    config = {**config}
    config.setdefault("connector.class", plugin)
    # (ConfigError -> 400 when there is no such plugin)
    cls = plugins.resolve(plugin, config, untrusted=True)
    name = str(config.get("name") or "validate")
    problems: list[tuple[str, str]] = []
    secret = set(cls.secret_properties)
    try:
        # as POST /connectors takes it: ${env:...}/${file:...} resolved first (Connect's
        # config transformer), their values secret
        resolved, refs = resolve(config, f"REST, connector {name!r}", strict=True)
    except ConfigError as exc:
        problems = _problems(str(exc))
    else:
        try:
            body_cls = plugins.resolve(str(resolved["connector.class"]), resolved, untrusted=True)
        except ConfigError as exc:  # (its value may be a reference's: not quoted)
            raise ConfigError(scrub(str(exc), [resolved[k] for k in refs])) from None
        if body_cls is not cls:
            raise ConfigError(  # (a 400, as Connect's: one plugin validated, another shown)
                f"the config's connector.class is another plugin than the request's {shown(plugin)}"
            )
        secret |= refs
        try:
            validate(ConnectorSpec(name, resolved, "REST", refs))
        except ConfigError as exc:
            problems = _problems(str(exc))
    configs = []
    seen: set[str] = set()
    for order, (prop, f, group) in enumerate(_fields(cls)):
        seen.add(prop)
        errors = [msg for p, msg in problems if p == prop]
        value = config.get(prop)
        hidden = prop in secret or is_secret(prop)
        if value is not None and hidden:
            value = MASK
        elif value is not None:  # (a URL's password, as GET .../config masks it)
            value = mask({prop: value})[prop]
        configs.append(
            {
                "definition": _definition(prop, f, group, order, hidden),
                "value": {
                    "name": prop,
                    "value": None if value is None else str(value),
                    "recommended_values": [],
                    "errors": errors,
                    "visible": True,
                },
            }
        )
    for prop, msg in problems:
        if prop not in seen:
            configs.append(
                {
                    "definition": {"name": prop or "(config)", "group": "Unknown"},
                    "value": {
                        "name": prop or "(config)",
                        "value": None,
                        "recommended_values": [],
                        "errors": [msg],
                        "visible": True,
                    },
                }
            )
    return {
        "name": f"{cls.__module__}.{cls.__qualname__}",
        "error_count": len(problems),
        "groups": ["Common", cls.name],
        "configs": configs,
    }
