"""A catalog for the synthetic event generator whose titles carry each item's latent topic.

:func:`streamrec.models.data.synthetic.simulate` draws item topics first from ``default_rng(seed)``;
this module draws the same topics (a unit test holds the two together) and writes titles from
per-topic nouns plus topic-free adjectives and brands, so the text says which topic an item belongs
to but not its popularity or successors.
"""

from __future__ import annotations

import numpy as np

from streamrec.models.data.catalog import ItemRecord
from streamrec.models.data.synthetic import SyntheticConfig

# (category, nouns): one row per topic; topics beyond the list reuse rows with a series mark.
TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cameras", ("mirrorless camera", "zoom lens", "camera tripod", "lens filter")),
    ("running", ("running shoes", "trail sneakers", "running socks", "sports watch")),
    ("coffee", ("espresso beans", "coffee grinder", "milk frother", "pour-over kettle")),
    ("baby", ("baby stroller", "diaper bag", "baby bottle", "crib mattress")),
    ("gaming", ("gaming mouse", "mechanical keyboard", "game controller", "gaming headset")),
    ("gardening", ("garden hose", "pruning shears", "flower seeds", "potting soil")),
    ("skincare", ("face moisturizer", "sunscreen lotion", "cleansing gel", "eye serum")),
    ("camping", ("camping tent", "sleeping bag", "camp stove", "hiking backpack")),
    ("kitchen", ("chef knife", "cast iron skillet", "cutting board", "mixing bowls")),
    ("books", ("mystery novel", "cookbook", "science fiction paperback", "poetry collection")),
    ("pets", ("dog leash", "cat litter", "pet bed", "chew toy for dogs")),
    ("audio", ("wireless earbuds", "bookshelf speakers", "turntable", "headphone amplifier")),
    ("fitness", ("yoga mat", "dumbbell set", "resistance bands", "kettlebell")),
    ("tea", ("green tea leaves", "teapot", "herbal infusion", "matcha powder")),
    ("cycling", ("road bike helmet", "bike lights", "cycling jersey", "bicycle pump")),
    ("office", ("desk lamp", "ergonomic chair", "notebook planner", "fountain pen")),
    ("baking", ("stand mixer", "bread flour", "baking sheet", "sourdough starter")),
    ("swimming", ("swim goggles", "swimsuit", "swim cap", "kickboard")),
    ("toys", ("building blocks", "plush teddy bear", "puzzle for kids", "toy train set")),
    ("watches", ("dive watch", "leather watch strap", "chronograph", "watch winder")),
    ("fishing", ("fishing rod", "fishing reel", "tackle box", "fishing lures")),
    ("painting", ("acrylic paints", "canvas panels", "paint brushes", "watercolor set")),
    ("phones", ("smartphone case", "phone charger", "screen protector", "power bank")),
    ("wine", ("red wine", "wine glasses", "corkscrew", "wine decanter")),
    ("cleaning", ("vacuum cleaner", "microfiber cloths", "floor mop", "laundry detergent")),
    ("jewelry", ("silver necklace", "gold earrings", "diamond ring", "charm bracelet")),
    ("music", ("acoustic guitar", "guitar strings", "digital piano", "drum sticks")),
    ("travel", ("carry-on suitcase", "travel pillow", "packing cubes", "passport holder")),
    ("lighting", ("smart light bulb", "floor lamp", "string lights", "ceiling fan light")),
    ("skiing", ("ski goggles", "ski gloves", "snowboard", "thermal base layer")),
)
ADJECTIVES = ("classic", "premium", "compact", "deluxe", "everyday", "new", "pro", "lightweight")
BRANDS = ("Acme", "Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Stark", "Wayne")


def item_topics(cfg: SyntheticConfig) -> np.ndarray:
    """The latent topic of each synthetic item ``(n_items,)``, as the simulation draws it."""
    topics: np.ndarray = np.random.default_rng(cfg.seed).integers(0, cfg.n_topics, size=cfg.n_items)
    return topics


def synthetic_catalog(cfg: SyntheticConfig, text_seed: int = 7) -> list[ItemRecord]:
    """One record per synthetic item (ids ``i0``..), titled from its topic's words."""
    rng = np.random.default_rng(text_seed)
    out = []
    for item, topic in enumerate(item_topics(cfg).tolist()):
        category, nouns = TOPICS[topic % len(TOPICS)]
        series = f" series {topic // len(TOPICS)}" if topic >= len(TOPICS) else ""
        noun = nouns[int(rng.integers(len(nouns)))]
        adjective = ADJECTIVES[int(rng.integers(len(ADJECTIVES)))]
        out.append(
            ItemRecord(
                item_id=f"i{item}",
                title=f"{adjective} {noun}{series}",
                category=category,
                brand=BRANDS[int(rng.integers(len(BRANDS)))],
                price=round(float(rng.uniform(5, 500)), 2),
                description=None,
            )
        )
    return out
