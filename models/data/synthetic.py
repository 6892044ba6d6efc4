"""Synthetic event streams with the structure real shops have, for demos and tests.

The generator is a small simulation, deterministic under its seed:

- **Popularity skew.** Item popularity follows a Zipf law over a random ranking.
- **Topics and drifting interests.** Each item belongs to one latent topic; each user has a
  Dirichlet mixture over topics that drifts a little at every new session.
- **Sequential structure.** Every item has a few fixed "successor" items in its topic (an
  accessory after a camera, the next episode after this one); with probability
  ``sequential`` the next item viewed is one of them, which is what sequence models learn.
- **Funnels.** A viewed item is clicked; it may then be put in the cart and bought, or saved
  as a favourite, each as its own event on the same item a few seconds later.
- **New items.** A share of the catalog is released during the simulated period; an item is
  never seen before its release time.
- **Sessions.** Users come back in sessions separated by hours; events inside a session are
  seconds to minutes apart. ``session_id`` is ``"{user}-{n}"``.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

import numpy as np

from streamrec.models.data.actions import Action
from streamrec.models.data.events import Event

START_TS = 1_700_000_000.0  # 2023-11-14 UTC, an arbitrary fixed origin


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the simulation; the defaults give a shop-like mix of actions."""

    n_users: int = 1000
    n_items: int = 500
    n_events: int = 50_000
    seed: int = 0
    n_topics: int = 20
    zipf_exponent: float = 1.1  # popularity ~ rank ** -exponent
    successors: int = 3  # fixed follow-up items per item
    sequential: float = 0.6  # chance the next view follows the previous item's successors
    drift: float = 0.15  # share of a user's interests replaced at each new session
    topic_concentration: float = 0.3  # Dirichlet alpha: smaller = more focused users
    cart_rate: float = 0.15  # P(cart | click)
    buy_rate: float = 0.5  # P(buy | cart), scaled per user by a propensity in [0.5, 1.5]
    fav_rate: float = 0.05  # P(fav | click)
    new_item_share: float = 0.2  # items released during the period rather than at its start
    mean_session_events: float = 8.0
    days: float = 30.0  # simulated period


def _zipf_weights(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    ranks = rng.permutation(n) + 1
    w: np.ndarray = ranks.astype(np.float64) ** -exponent
    return w / float(w.sum())


class _Catalog:
    """Items by topic, with release times, popularity and successor lists."""

    def __init__(self, cfg: SyntheticConfig, rng: np.random.Generator) -> None:
        n = cfg.n_items
        self.topic = rng.integers(0, cfg.n_topics, size=n)
        self.popularity = _zipf_weights(rng, n, cfg.zipf_exponent)
        span = cfg.days * 86400.0
        released_later = rng.random(n) < cfg.new_item_share
        self.release = np.where(released_later, START_TS + rng.random(n) * span * 0.9, START_TS)
        # Per topic: item ids sorted by release time, so the available ones form a prefix.
        self.by_topic: list[np.ndarray] = []
        self.release_sorted: list[np.ndarray] = []
        self.cum_weights: list[np.ndarray] = []
        for t in range(cfg.n_topics):
            members = np.flatnonzero(self.topic == t)
            members = members[np.argsort(self.release[members], kind="stable")]
            self.by_topic.append(members)
            self.release_sorted.append(self.release[members])
            self.cum_weights.append(np.cumsum(self.popularity[members]))
        self.successors = np.full((n, cfg.successors), -1, dtype=np.int64)
        for members in self.by_topic:
            if len(members) < 2:
                continue
            p = self.popularity[members] / self.popularity[members].sum()
            for item in members:
                k = min(cfg.successors, len(members) - 1)
                choice = rng.choice(len(members), size=k + 1, replace=False, p=p)
                picked = [int(members[c]) for c in choice if members[c] != item][:k]
                self.successors[item, : len(picked)] = picked

        # Plain lists: the per-event loop indexes them one element at a time.
        self.successors_list: list[list[int]] = self.successors.tolist()
        self.release_list: list[float] = self.release.tolist()
        self.members_list = [m.tolist() for m in self.by_topic]
        self.release_sorted_list = [r.tolist() for r in self.release_sorted]
        self.cum_list = [c.tolist() for c in self.cum_weights]

    def sample_in_topic(self, rnd: random.Random, topic: int, now: float) -> int:
        """A released item of ``topic`` drawn by popularity, or -1 if none is out yet."""
        available = bisect.bisect_right(self.release_sorted_list[topic], now)
        if available == 0:
            return -1
        cum = self.cum_list[topic]
        r = rnd.random() * cum[available - 1]
        return int(self.members_list[topic][min(bisect.bisect_left(cum, r), available - 1)])


def generate_events(
    n_users: int = 1000,
    n_items: int = 500,
    n_events: int = 50_000,
    seed: int = 0,
    **options: float,
) -> list[Event]:
    """Simulated events sorted by time (see the module docstring); same seed, same events.

    ``options`` are any other :class:`SyntheticConfig` fields (e.g. ``sequential=0.8``).
    """
    cfg = SyntheticConfig(n_users=n_users, n_items=n_items, n_events=n_events, seed=seed, **options)  # type: ignore[arg-type]
    return simulate(cfg)


def simulate(cfg: SyntheticConfig) -> list[Event]:
    """Run the simulation described by ``cfg``; events sorted by ``ts`` (ties by user)."""
    if cfg.n_users < 1 or cfg.n_items < 2 or cfg.n_events < 0:
        raise ValueError("need n_users >= 1, n_items >= 2 and n_events >= 0")
    rng = np.random.default_rng(cfg.seed)
    catalog = _Catalog(cfg, rng)
    # Scalar draws in the per-event loop use Python's generator (numpy's is slow per call),
    # seeded from the numpy one so the whole run still depends on ``seed`` alone.
    fast = random.Random(int(rng.integers(2**63)))
    span = cfg.days * 86400.0
    # Heavy-tailed user activity: a few users make most of the events.
    activity = rng.lognormal(0.0, 1.0, size=cfg.n_users)
    budgets = rng.multinomial(cfg.n_events, activity / activity.sum())
    events: list[Event] = []
    for u in range(cfg.n_users):
        interests = rng.dirichlet(
            np.full(cfg.n_topics, cfg.topic_concentration),
            size=1 + int(budgets[u] / cfg.mean_session_events * 2),
        )
        events.extend(_simulate_user(cfg, catalog, fast, u, int(budgets[u]), span, interests))
    events.sort(key=lambda e: (e.ts, e.user_id))
    return events


def _simulate_user(
    cfg: SyntheticConfig,
    catalog: _Catalog,
    rnd: random.Random,
    user: int,
    budget: int,
    span: float,
    draws: np.ndarray,
) -> list[Event]:
    """One user's events; ``draws`` holds Dirichlet interest vectors (first = initial)."""
    user_id = f"u{user}"
    interests = draws[0]
    propensity = 0.5 + rnd.random()
    buy_rate = min(1.0, cfg.buy_rate * propensity)
    n_sessions = max(1, round(budget / cfg.mean_session_events))
    mean_gap = span * 0.5 / n_sessions
    now = START_TS + span * 0.5 * rnd.random()  # first visit anywhere in the first half
    out: list[Event] = []
    last = -1
    s = 0
    misses = 0
    while len(out) < budget and misses < 100:
        if s > 0:
            fresh = draws[s % len(draws)]
            interests = (1 - cfg.drift) * interests + cfg.drift * fresh
            now += 1800.0 + rnd.expovariate(1.0 / mean_gap)
        cum_interests = list(itertools.accumulate(interests.tolist()))
        session_id = f"{user_id}-{s}"
        session_len = 1 + int(rnd.expovariate(1.0 / cfg.mean_session_events))
        t = now
        for _ in range(session_len):
            if len(out) >= budget:
                break
            item = _next_item(cfg, catalog, rnd, cum_interests, last, t)
            if item < 0:
                misses += 1
                continue
            last = item
            item_id = f"i{item}"
            out.append(Event(user_id, item_id, Action.CLICK, t, session_id))
            t += rnd.expovariate(1 / 20.0)
            if rnd.random() < cfg.fav_rate and len(out) < budget:
                out.append(Event(user_id, item_id, Action.FAV, t, session_id))
                t += rnd.expovariate(1 / 10.0)
            if rnd.random() < cfg.cart_rate and len(out) < budget:
                out.append(Event(user_id, item_id, Action.CART, t, session_id))
                t += rnd.expovariate(1 / 30.0)
                if rnd.random() < buy_rate and len(out) < budget:
                    out.append(Event(user_id, item_id, Action.BUY, t, session_id))
                    t += rnd.expovariate(1 / 30.0)
            t += rnd.expovariate(1 / 40.0)
        now = t
        s += 1
    return out


def _next_item(
    cfg: SyntheticConfig,
    catalog: _Catalog,
    rnd: random.Random,
    cum_interests: list[float],
    last: int,
    now: float,
) -> int:
    """Follow a successor of the last item, else draw a topic by interest and an item in it."""
    if last >= 0 and rnd.random() < cfg.sequential:
        pick = catalog.successors_list[last][int(rnd.random() * cfg.successors)]
        if pick >= 0 and catalog.release_list[pick] <= now:
            return pick
    for _ in range(4):  # a topic may have nothing released yet; try a few
        topic = min(
            bisect.bisect_left(cum_interests, rnd.random() * cum_interests[-1]), cfg.n_topics - 1
        )
        item = catalog.sample_in_topic(rnd, topic, now)
        if item >= 0:
            return item
    return -1
