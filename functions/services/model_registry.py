"""Trained models as the forecaster and the trainer find them: registry in DynamoDB, artifacts in S3.

The trainer fits one :class:`~models.service.ForecastEnsemble` per batch of targets (the LightGBM
model is global over the batch) and uploads it once under ``models/<artifact_key>/<version>/``; every
target of the batch registers that version with ``info["artifact_key"]`` pointing at it. The
service's own ``metadata.json`` travels as the artifact's metadata (the store writes the file of that
name itself) and is put back on download.

A target without a champion, or whose champion cannot be loaded (missing or corrupt artifact, another
step), is forecast by an unfitted service (seasonal naive with in-sample intervals): a forecast of
lesser quality, never none, and the problem is reported.
"""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from functions.ports.archive import Archive
from functions.ports.errors import NotFoundError
from functions.ports.records import ModelVersion
from functions.ports.state import BusinessEventStore, ModelRegistry

if TYPE_CHECKING:
    from models.config import ForecastConfig
    from models.service import ForecastEnsemble

ARTIFACT_KEY = "artifact_key"
FALLBACK_VERSION = "unfitted"
#: Errors that mean "this artifact cannot be used" (missing, corrupt, from another library version).
ARTIFACT_ERRORS: tuple[type[Exception], ...] = (
    NotFoundError,
    ValueError,
    KeyError,
    EOFError,
    OSError,
    pickle.UnpicklingError,
    AttributeError,
    ModuleNotFoundError,
)


def save_artifact(service: ForecastEnsemble, archive: Archive, *, artifact_key: str, version: str) -> str:
    """Upload a fitted service once; returns its ``s3://`` prefix."""
    with tempfile.TemporaryDirectory(prefix="forescale-model-") as tmp:
        directory = Path(tmp)
        service.save(directory)
        metadata = json.loads((directory / "metadata.json").read_text())
        (directory / "metadata.json").unlink()
        return archive.upload_model(artifact_key, version, directory, metadata)


@dataclass
class ModelLoader:
    """Champion services per target, loaded once per container (a few kept, least recently used out)."""

    registry: ModelRegistry
    archive: Archive
    make_service: Callable[[int, dict[str, dict[str, float]]], ForecastEnsemble]
    cache_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "forescale-models")
    max_cached: int = 4
    problems: list[str] = field(default_factory=list)
    _cache: OrderedDict[tuple[str, str], ForecastEnsemble] = field(default_factory=OrderedDict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def champion(self, target_id: str) -> ModelVersion | None:
        champion = self.registry.champion(target_id)
        if champion is None:
            return None
        model = self.registry.model_version(target_id, champion.version)
        if model is None:
            self.problems.append(f"{target_id}: champion {champion.version} is not registered")
        return model

    def load(self, model: ModelVersion) -> ForecastEnsemble:
        """The service of a registered version; raises one of :data:`ARTIFACT_ERRORS` when unusable."""
        with self._lock:  # one download per artifact, even when many targets ask at once
            return self._load(model)

    def _load(self, model: ModelVersion) -> ForecastEnsemble:
        from models.service import ForecastEnsemble

        key = (model.info.get(ARTIFACT_KEY, model.target_id), model.version)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        directory = self.cache_dir / f"{abs(hash(key)):x}"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        try:
            document = self.archive.download_model(key[0], key[1], directory)
            (directory / "metadata.json").write_text(json.dumps(document["metadata"]))
            service = ForecastEnsemble.load(directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        self._cache[key] = service
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)
        return service

    def service_for(
        self, target_id: str, step_seconds: int, effects: dict[str, dict[str, float]]
    ) -> tuple[ForecastEnsemble, str]:
        """``(service, model version)`` for one target; the unfitted fallback when there is no usable champion."""
        model = self.champion(target_id)
        if model is not None:
            try:
                service = self.load(model)
            except ARTIFACT_ERRORS as error:
                self.problems.append(f"{target_id}: model {model.version} unusable ({type(error).__name__}: {error})")
            else:
                if service.step_seconds == step_seconds:
                    return service, model.version
                self.problems.append(
                    f"{target_id}: model {model.version} has step {service.step_seconds} s, the metric {step_seconds} s"
                )
        return self.make_service(step_seconds, effects), FALLBACK_VERSION


def learned_effects(store: BusinessEventStore, event_types: set[str]) -> dict[str, dict[str, float]]:
    """Learned uplifts (all targets) of ``event_types`` as :class:`models.events.EventEffectLearner` state."""
    out: dict[str, dict[str, float]] = {}
    for event_type in sorted(event_types):
        effect = store.event_effect(event_type)
        if effect is not None:
            out[event_type] = {"uplift": effect.multiplier, "count": effect.samples}
    return out


def unfitted_service(
    config: ForecastConfig | None = None,
) -> Callable[[int, dict[str, dict[str, float]]], ForecastEnsemble]:
    """Factory of unfitted services (the fallback) with the given configuration and learned effects."""

    def make(step_seconds: int, effects: dict[str, dict[str, float]]) -> ForecastEnsemble:
        from models.events import EventEffectLearner
        from models.service import ForecastEnsemble

        learner = EventEffectLearner({"effects": effects, "seen": []})
        return ForecastEnsemble(step_seconds, config, event_effects=learner)

    return make
