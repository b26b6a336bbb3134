"""Stripe's v1 wire format as the sandbox reads it: form-encoded bodies and query strings with bracketed keys.

The SDK encodes `{"metadata": {"a": "1"}, "expand": ["x"]}` as `metadata[a]=1&expand[0]=x`; this turns such
pairs back into nested dicts and lists (values stay strings, as Stripe's API receives them).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def _split_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not rest:
        return [head]
    return [head, *_KEY_PART.findall("[" + rest)]


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {key: _listify(item) for key, item in value.items()}
        if converted and all(key == "" or key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=lambda k: int(k) if k.isdigit() else -1)]
        return converted
    return value


def decode_form(text: str) -> dict[str, Any]:
    """Decode `a[b]=1&c[0]=x&c[1]=y` into `{"a": {"b": "1"}, "c": ["x", "y"]}`; `c[]=x` lists work too."""
    root: dict[str, Any] = {}
    appended: dict[int, int] = {}
    for raw_key, value in parse_qsl(text, keep_blank_values=True):
        parts = _split_key(raw_key)
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            name = part
            if part == "":
                # `expand[]=a&expand[]=b`: give each value its own position
                count = appended.get(id(node), 0)
                appended[id(node)] = count + 1
                name = str(count)
            if last:
                node[name] = value
            else:
                child = node.get(name)
                if not isinstance(child, dict):
                    child = {}
                    node[name] = child
                node = child
    result = _listify(root)
    return result if isinstance(result, dict) else {}


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    """What must match for an idempotency key to replay: the endpoint and every parameter."""
    return json.dumps([method.upper(), path, params], sort_keys=True, separators=(",", ":"))
