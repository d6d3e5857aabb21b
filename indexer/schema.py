"""The catalog schema: what one product is, as every loader produces it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Product:
    id: str
    title: str
    description: str = ""
    brand: str = ""
    category: str = ""
    price: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "brand": self.brand,
            "category": self.category,
            "price": self.price,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Product":
        return cls(
            id=data["id"],
            title=data["title"],
            description=data.get("description") or "",
            brand=data.get("brand") or "",
            category=data.get("category") or "",
            price=data.get("price"),
            attributes=dict(data.get("attributes") or {}),
        )
