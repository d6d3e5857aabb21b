"""How a product becomes the text the product tower reads.

The text is the title, then the brand and category when the title does not already say them,
then the start of the description: the words a shopper's query is most likely to share with
the product. Attributes are left out by default because, measured on the Icecat judgments
with zero-shot MiniLM, adding the eight most descriptive text attributes lowered dense
nDCG@10 from 0.592 to 0.556: long spec lists (paper types, OS lists, voltages) pull a short
text's embedding away from what the product is. A fine-tuned tower may use them well, so
`max_attributes` adds them: the preferred ones (colour, type, compatibility, technology,
connectors, capacity) first, never logistics (package sizes, pallets, temperatures,
certifications, EANs), which describe shipping, not the product.
"""
from __future__ import annotations

from typing import Any, Protocol

# Attributes that most often carry the words shoppers search with, checked first.
PREFERRED_ATTRIBUTES = (
    "model", "type", "product_type", "product_colour", "colour", "color", "compatibility",
    "brand_compatibility", "print_technology", "printing_colours", "connector_1",
    "connector_2", "connectivity_technology", "form_factor", "material", "capacity",
    "internal_memory", "processor_family", "display_diagonal", "size",
)
# Substrings of attribute names about shipping and compliance, not the product.
LOGISTICS_WORDS = (
    "package", "pallet", "master", "weight", "temperature", "humidity", "certification",
    "country", "ean", "dimensions", "depth", "height", "width", "quantity_per", "rohs",
    "code",
)
MAX_DESCRIPTION_WORDS = 30
MAX_ATTRIBUTES = 8
MAX_VALUE_WORDS = 12  # long value lists ("Bond paper,Card stock,...") cost time, add little


class ProductLike(Protocol):
    title: str
    description: str
    brand: str
    category: str
    attributes: dict[str, Any]


def selected_attributes(attributes: dict[str, Any], already_said: str = "",
                        limit: int = MAX_ATTRIBUTES) -> list[tuple[str, str]]:
    """Attributes worth reading, preferred ones first; skips values the title already says."""
    said = already_said.lower()
    preferred = [k for k in PREFERRED_ATTRIBUTES if k in attributes]
    others = [k for k in attributes if k not in preferred and not any(w in k for w in LOGISTICS_WORDS)]
    chosen = []
    for key in preferred + others:
        value = attributes[key]
        if isinstance(value, (list, tuple)):  # ["Bluetooth", "USB"]: its texts, as one value
            value = ", ".join(item.strip() for item in value if isinstance(item, str) and item.strip())
        # Text values name features; bare numbers and yes/no flags rarely match a query.
        if not isinstance(value, str) or not value or value.lower() in said:
            continue
        words = value.replace("\\n", ", ").split()[:MAX_VALUE_WORDS]  # Icecat stores literal \n
        chosen.append((" ".join(key.replace("_", " ").split()), " ".join(words)))
        if len(chosen) == limit:
            break
    return chosen


def product_text(product: ProductLike, max_attributes: int = 0) -> str:
    parts = [product.title]
    if product.brand and product.brand.lower() not in product.title.lower():
        parts.append(f"Brand: {product.brand}")
    if product.category and product.category.lower() not in product.title.lower():
        parts.append(f"Category: {product.category}")
    description = " ".join(product.description.split()[:MAX_DESCRIPTION_WORDS])
    if description and description.lower() not in product.title.lower():
        parts.append(description)
    attributes = selected_attributes(product.attributes, product.title, max_attributes) if max_attributes else []
    if attributes:
        parts.append("; ".join(f"{name}: {value}" for name, value in attributes))
    return ". ".join(parts)
