"""Reading /metrics the way Prometheus does: prometheus-client's own text parser."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by (sample name, labels)."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"{key} twice in one scrape"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str, *label_names: str) -> dict[tuple[str, ...], float]:
    """The samples called `name`, keyed by the values of `label_names`."""
    found: dict[tuple[str, ...], float] = {}
    for (sample_name, labels), sample_value in samples.items():
        if sample_name == name:
            by_name = dict(labels)
            found[tuple(by_name[label] for label in label_names)] = sample_value
    return found


def increase(
    before: Samples, after: Samples, name: str, *label_names: str
) -> dict[tuple[str, ...], float]:
    """How much each series of `name` grew between two scrapes (those that did)."""
    old = series(before, name, *label_names)
    grown = {}
    for key, new in series(after, name, *label_names).items():
        if new != old.get(key, 0.0):
            grown[key] = new - old.get(key, 0.0)
    return grown
