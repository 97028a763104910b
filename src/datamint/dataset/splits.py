"""Splitting a dataset: by ratios (optionally keeping each patient in one split), or by the
project's stored splits (``GET /projects/{id}/splits``); :meth:`SplitResult.save` stores a split
on the server (``POST /projects/{id}/splits``, once per split name).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from datamint.dataset.base import DatamintBaseDataset

_LOG = logging.getLogger(__name__)
DEFAULT_RATIOS = {"train": 0.7, "val": 0.15, "test": 0.15}


class SplitResult(dict):
    """Split name → dataset, with :meth:`save` to make it the project's official split.

    Example:
        >>> parts = dataset.split(train=0.8, test=0.2, by_patient=True, seed=42)
        >>> train = parts['train']
        >>> parts.save()
    """

    def save(self, force: bool = False) -> None:
        """Store the split assignments on the server.

        Args:
            force: Overwrite the project's existing assignments; without it a project that has
                assignments already raises ``ValueError``.

        Raises:
            ValueError: The datasets do not come from a project, or it has splits and ``force`` is false.
        """
        first = next(iter(self.values()), None)
        if first is None or not first.project or not first.project.get("id"):
            raise ValueError("Cannot save splits: the dataset was not built from a project")
        api = first.connection.api()
        project_id = first.project["id"]
        if api.projects.get_splits(project_id) and not force:
            raise ValueError(f"Project {first.project.get('name')!r} already has split assignments; "
                             "use save(force=True) to overwrite them")
        for name, dataset in self.items():
            ids = [r.id for r in dataset.records]
            if ids:
                api.projects.assign_splits(ids, name, project=project_id)


def _counts(total: int, ratios: Mapping[str, float]) -> dict[str, int]:
    """Sizes that add up to ``total``, proportional to ``ratios`` (largest remainders)."""
    weight = sum(ratios.values())
    exact = {name: total * r / weight for name, r in ratios.items()}
    counts = {name: int(np.floor(v)) for name, v in exact.items()}
    for name in sorted(exact, key=lambda n: exact[n] - counts[n], reverse=True)[: total - sum(counts.values())]:
        counts[name] += 1
    return counts


def _groups(dataset: DatamintBaseDataset, by_patient: bool) -> list[list[int]]:
    if not by_patient:
        return [[i] for i in range(len(dataset.records))]
    groups: dict[str, list[int]] = {}
    for i, record in enumerate(dataset.records):
        groups.setdefault(record.patient_id or f"__resource__{record.id}", []).append(i)
    return list(groups.values())


def split_dataset(dataset: DatamintBaseDataset, *, seed: int | None, use_project_splits: bool | None,
                  as_of_timestamp: str | None, by_patient: bool, ratios: Mapping[str, float]) -> SplitResult:
    """See :meth:`DatamintBaseDataset.split`."""
    if any(r < 0 for r in ratios.values()) or (ratios and sum(ratios.values()) <= 0):
        raise ValueError(f"Split ratios must be non-negative and not all zero, got {dict(ratios)}")
    if use_project_splits is None:
        use_project_splits = not ratios and bool(dataset.project and dataset.project.get("id"))
    if use_project_splits:
        if ratios:
            raise ValueError("Give either ratios or use_project_splits=True, not both")
        api = dataset.connection.api()
        stored = api.projects.get_splits(dataset.project["id"], as_of_timestamp=as_of_timestamp)  # type: ignore[index]
        if stored:
            by_name: dict[str, set[str]] = {}
            for s in stored:
                by_name.setdefault(s.split_name, set()).add(s.resource_id)
            return SplitResult({name: dataset.subset([i for i, r in enumerate(dataset.records) if r.id in ids])
                                for name, ids in sorted(by_name.items())})
        _LOG.warning("Project %r has no stored splits; splitting locally %s", dataset.project.get("name"),  # type: ignore[union-attr]
                     DEFAULT_RATIOS)
        ratios = DEFAULT_RATIOS
    groups = _groups(dataset, by_patient)
    order = np.random.default_rng(seed).permutation(len(groups))
    wanted = _counts(len(dataset.records), ratios)
    parts: dict[str, list[int]] = {name: [] for name in ratios}
    names = list(ratios)
    for g in order:
        # the split furthest below its target size takes the next group (whole patients stay together)
        name = max(names, key=lambda n: (wanted[n] - len(parts[n]), -names.index(n)))
        parts[name].extend(groups[g])
    return SplitResult({name: dataset.subset(sorted(idx)) for name, idx in parts.items()})


def assignments(result: Mapping[str, Any]) -> dict[str, str]:
    """Resource id → split name of a split result."""
    return {r.id: name for name, ds in result.items() for r in ds.records}
