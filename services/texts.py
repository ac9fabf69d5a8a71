"""Every customer-facing text comes from config.yaml's `messages:` section."""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter
from typing import Any


class Texts:
    """Renders the bank-editable message templates."""

    def __init__(self, templates: Mapping[str, str]) -> None:
        self._templates = dict(templates)

    def render(self, key: str, **values: Any) -> str:
        try:
            template = self._templates[key]
        except KeyError:
            raise KeyError(f"message template {key!r} is missing from config.yaml messages:") from None
        # Missing placeholders render empty rather than breaking a customer reply.
        fields = {name for _, name, _, _ in Formatter().parse(template) if name}
        return template.format(**{name: values.get(name, "") for name in fields})

    def keys(self) -> list[str]:
        return sorted(self._templates)
