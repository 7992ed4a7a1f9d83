"""The trainer (daily): fit a challenger per batch of targets, backtest it against the champion, promote.

For each batch of targets with the same metric period (the LightGBM part of the engine is global
over the batch):

0. the scheduled invocation with more than one batch starts one asynchronous invocation of the
   trainer per batch (each alone within Lambda's 15 minutes) and trains nothing itself;
1. the challenger is fitted on the history up to ``holdout_days`` ago (``split``), with the business
   events of that time (so it learns their uplift);
2. challenger and champion forecast the holdout from origins every ``eval_every_hours``, each from the
   history before its origin only, and are scored per target on the first ``eval_horizon`` of every
   origin: MASE (mean absolute error over the in-sample MAE of the daily seasonal-naive forecast before
   ``split``), MAPE and sMAPE (%). Neither model has seen the holdout, so the comparison is fair;
3. the challenger is saved once to S3 (``models/<artifact_key>/<version>/``) and registered for every
   target it fitted; it replaces a target's champion only when its MASE is lower (or there is no
   usable champion), with a conditional write so two trainers cannot both promote;
0b. a target whose ``capacity_per_instance`` is ``learn`` has it learned from the load and the busy
   series the collector stores (:mod:`functions.domain.capacity_model`, last ``LEARN_DAYS`` days)
   and stored for the decider; a failed attempt is stored with its reason and the number of usable
   points, unless an earlier attempt learned a value (that value then stays);
4. ``ModelTrained`` per target; MASE and MAPE as fleet CloudWatch metrics (no target id); the uplift learned per
   business-event type is stored for the forecaster's fallback models, with the windows already
   folded in (``extra`` keys ``seen:<window key>``, valued at the window's end) so that the next
   refit over the same history does not count them again.

The fitted challenger *is* the deployed model: it was fitted a day ago and forecasts from the newest
history at every round, which is what the backtest measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events.base import TargetId
from events.contracts import ModelScore, ModelTrained
from functions.domain.capacity_model import LEARN_DAYS, busy_series_id, learn_capacity_per_instance
from functions.domain.clock import Clock
from functions.domain.target import ScalingTarget
from functions.ports.archive import Archive
from functions.ports.bus import EventPublisher
from functions.ports.errors import ConflictError
from functions.ports.invoke import Invoker
from functions.ports.metrics import MetricDatum, MetricsPublisher
from functions.ports.records import EventEffect, LearnedCapacity, ModelVersion
from functions.ports.state import StateStore
from functions.services.common import FORECAST_MAPE, FORECAST_MASE, METRICS_NAMESPACE, floor_time, naive_utc
from functions.services.forecaster import to_window
from functions.services.model_registry import ARTIFACT_ERRORS, ARTIFACT_KEY, ModelLoader, save_artifact
from functions.services.targets import TargetCatalog

if TYPE_CHECKING:
    import pandas as pd

    from models.api import BusinessWindow
    from models.config import ForecastConfig
    from models.service import ForecastEnsemble


class TrainRequest(BaseModel):
    """The schedule's event asks for every target; ``target_ids`` narrows it (one batch, or a manual retrain).

    ``batch_index`` and ``trained_at`` come from the planner so that batches trained in parallel get
    distinct artifact keys and one version time.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    target_ids: list[TargetId] | None = Field(default=None, max_length=10_000)
    batch_index: int = Field(default=0, ge=0, le=999)
    trained_at: AwareDatetime | None = None


@dataclass(frozen=True)
class Scores:
    mase: float
    mape: float
    smape: float
    origins: int

    def finite(self) -> dict[str, float]:
        out = {"mase": self.mase, "mape": self.mape, "smape": self.smape}
        return {k: round(v, 6) for k, v in out.items() if math.isfinite(v)}


NO_SCORES = Scores(math.nan, math.nan, math.nan, 0)


@dataclass
class TrainOutcome:
    target_id: str
    version: str | None
    promoted: bool
    challenger: Scores
    champion: Scores | None
    reason: str

    def summary(self) -> dict[str, Any]:
        return {
            "target_id": self.target_id,
            "version": self.version,
            "promoted": self.promoted,
            "challenger": self.challenger.finite(),
            "champion": None if self.champion is None else self.champion.finite(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class TrainResult:
    """What one :meth:`TrainerService.train` call did: models trained, batches handed to other invocations,
    and ``capacity_per_instance`` learned (or why not) per ``learn`` target."""

    outcomes: list[TrainOutcome] = field(default_factory=list)
    dispatched: int = 0
    learned: dict[str, LearnedCapacity] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"batches_dispatched": self.dispatched, "models": [o.summary() for o in self.outcomes]}
        if self.learned:  # targets whose capacity_per_instance is "learn": the value, or why there is none yet
            answer["capacity_learned"] = {
                tid: record.capacity_per_instance if record.capacity_per_instance is not None else record.reason
                for tid, record in self.learned.items()
            }
        return answer


def _better(challenger: Scores, champion: Scores | None) -> tuple[bool, str]:
    if champion is None:
        return True, "no usable champion"
    if not math.isfinite(challenger.mase):
        return False, "challenger could not be scored on the holdout"
    if not math.isfinite(champion.mase):
        return True, "champion could not be scored on the holdout"
    if challenger.mase < champion.mase:
        return True, f"MASE {challenger.mase:.3f} < champion {champion.mase:.3f}"
    return False, f"MASE {challenger.mase:.3f} >= champion {champion.mase:.3f}"


@dataclass
class TrainerService:
    catalog: TargetCatalog
    store: StateStore
    archive: Archive
    publisher: EventPublisher
    metrics: MetricsPublisher
    models: ModelLoader
    clock: Clock
    config: ForecastConfig | None = None
    holdout_days: float = 1.0
    eval_every_hours: float = 2.0
    eval_horizon_seconds: int = 3600
    batch_size: int = 50
    invoker: Invoker | None = None

    def batches(self, targets: Sequence[ScalingTarget]) -> list[tuple[int, list[ScalingTarget]]]:
        """``(period, targets)`` batches of at most ``batch_size`` targets sharing a metric period."""
        by_period: dict[int, list[ScalingTarget]] = {}
        for target in sorted(targets, key=lambda t: t.target_id):
            by_period.setdefault(target.metric.period_seconds, []).append(target)
        return [
            (period, group[start : start + self.batch_size])
            for period, group in sorted(by_period.items())
            for start in range(0, len(group), self.batch_size)
        ]

    def train(self, request: TrainRequest, *, function_name: str = "") -> TrainResult:
        """Train the requested targets; the scheduled request with several batches is fanned out instead:
        one asynchronous invocation of this function per batch (each fits in Lambda's 15 minutes alone)."""
        targets = self.catalog.targets()
        if request.target_ids is not None:
            wanted = set(request.target_ids)
            targets = [t for t in targets if t.target_id in wanted]
        now = request.trained_at or self.clock.now()
        batches = self.batches(targets)
        if request.target_ids is None and len(batches) > 1 and self.invoker is not None and function_name:
            for index, (_, batch) in enumerate(batches):
                part = TrainRequest(target_ids=[t.target_id for t in batch], batch_index=index, trained_at=now)
                self.invoker.invoke_async(function_name, part.model_dump(mode="json"))
            return TrainResult(dispatched=len(batches))
        result = TrainResult()
        for offset, (period, batch) in enumerate(batches):
            result.learned.update(
                {t.target_id: self._learn_capacity(t, now) for t in batch if t.capacity_per_instance == "learn"}
            )
            result.outcomes.extend(self._train_batch(batch, period, now, request.batch_index + offset))
        return result

    # ----------------------------------------------------------------- one batch

    def _history_days(self) -> float:
        from models.config import ForecastConfig

        return (self.config or ForecastConfig()).max_history_days

    def _train_batch(self, batch: Sequence[ScalingTarget], step: int, now: datetime, index: int) -> list[TrainOutcome]:
        import pandas as pd

        from models.events import EventEffectLearner
        from models.service import ForecastEnsemble

        split = floor_time(now - timedelta(days=self.holdout_days), step)
        start = split - timedelta(days=self._history_days())
        frames, windows = [], []
        for target in batch:
            frames.append(self.archive.read_history(target.target_id, start, now))
            windows += [
                to_window(e) for e in self.store.business_events(target.target_id, start, now + timedelta(days=1))
            ]
        history = pd.concat(frames, ignore_index=True)
        learner = EventEffectLearner(self._stored_learner_state({w.event_type for w in windows}))
        challenger = ForecastEnsemble(step, self.config, event_effects=learner)
        challenger.fit(history, now=naive_utc(split), events=windows)
        fitted = [t for t in batch if t.target_id in challenger.engine.targets_]
        outcomes = [
            TrainOutcome(t.target_id, None, False, NO_SCORES, None, challenger.skipped_.get(t.target_id, "not fitted"))
            for t in batch
            if t not in fitted
        ]
        if not fitted:
            return outcomes
        version = f"v{now:%Y%m%dT%H%M%SZ}-b{index:03d}"
        artifact_key = f"batch-{step}s-{index:03d}"
        uri = save_artifact(challenger, self.archive, artifact_key=artifact_key, version=version)
        challenger_scores = self._score(
            {t.target_id: challenger for t in fitted}, history, windows=windows, split=split, now=now, step=step
        )
        champions, champion_versions = self._champions(fitted)
        champion_scores = self._score(champions, history, windows=windows, split=split, now=now, step=step)
        events: list[ModelTrained] = []
        data: list[MetricDatum] = []
        for target in fitted:
            tid = target.target_id
            mine = challenger_scores.get(tid, NO_SCORES)
            theirs = champion_scores.get(tid) if tid in champions else None
            self.store.register_model(
                ModelVersion(
                    target_id=tid,
                    version=version,
                    created_at=now,
                    artifact_uri=uri,
                    scores=mine.finite(),
                    info={
                        ARTIFACT_KEY: artifact_key,
                        "training_start": start.isoformat(),
                        "training_end": split.isoformat(),
                        "models": ",".join(challenger.engine.targets_[tid].models),
                    },
                )
            )
            promote, reason = _better(mine, theirs)
            if promote:
                try:
                    self.store.promote(tid, version, expected_current=champion_versions.get(tid), at=now)
                except ConflictError:
                    promote, reason = False, "another trainer changed the champion meanwhile"
            outcomes.append(TrainOutcome(tid, version, promote, mine, theirs, reason))
            scores = (
                []
                if not math.isfinite(mine.mase)
                else [
                    ModelScore(
                        horizon=f"{self.eval_horizon_seconds // 60}min",
                        mase=max(0.0, mine.mase),
                        smape=min(200.0, mine.smape),
                    )
                ]
            )
            events.append(
                ModelTrained(
                    target_id=tid,
                    model_version=version,
                    trained_at=now,
                    training_start=start,
                    training_end=split,
                    artifact_uri=uri,
                    promoted=promote,
                    scores=scores if math.isfinite(mine.smape) else [],
                )
            )
            # one value of the fleet's distribution (ModelTrained and the registry keep each target's scores)
            dims = {"service": "forescale"}
            if math.isfinite(mine.mase):
                data.append(MetricDatum(FORECAST_MASE, mine.mase, now, dims))
            if math.isfinite(mine.mape):
                data.append(MetricDatum(FORECAST_MAPE, mine.mape, now, dims, unit="Percent"))
        self._store_effects(challenger, now, windows=windows, start=start)
        self.publisher.publish(events)
        if data:
            self.metrics.publish(METRICS_NAMESPACE, data)
        return outcomes

    def _learn_capacity(self, target: ScalingTarget, now: datetime) -> LearnedCapacity:
        """Fit ``load ~ cap x busy`` over the last days and store it (module docstring, step 0b)."""
        import numpy as np

        tid = target.target_id
        start = now - timedelta(days=LEARN_DAYS)
        load = self.archive.read_history(tid, start, now)
        busy = self.archive.read_history(busy_series_id(tid), start, now)
        joined = load[["ds", "y"]].merge(busy[["ds", "y"]], on="ds", suffixes=("_load", "_busy"))
        y_load, y_busy = joined["y_load"].to_numpy(dtype=float), joined["y_busy"].to_numpy(dtype=float)
        try:
            estimate = learn_capacity_per_instance(y_load, y_busy, np.ones(len(joined)))
            record = LearnedCapacity(
                tid,
                estimate.capacity_per_instance,
                estimate.samples,
                estimate.r2,
                estimate.outliers,
                now,
                estimate.method,
            )
        except ValueError as error:
            usable = int(((y_load > 0) & (y_busy > 0)).sum())
            record = LearnedCapacity(tid, None, usable, 0.0, 0, now, reason=str(error)[:300])
        current = self.store.get_learned_capacity(tid)
        if current is not None and current.capacity_per_instance is not None and record.capacity_per_instance is None:
            return current  # a failed attempt never discards a value learned before
        try:
            return self.store.put_learned_capacity(replace(record, version=0 if current is None else current.version))
        except ConflictError:  # another trainer stored one meanwhile: as good as this one
            return self.store.get_learned_capacity(tid) or record

    def _champions(self, targets: Sequence[ScalingTarget]) -> tuple[dict[str, ForecastEnsemble], dict[str, str]]:
        services: dict[str, ForecastEnsemble] = {}
        versions: dict[str, str] = {}
        for target in targets:
            champion = self.store.champion(target.target_id)
            if champion is None:
                continue
            versions[target.target_id] = champion.version
            model = self.models.champion(target.target_id)
            if model is None:
                continue
            try:
                services[target.target_id] = self.models.load(model)
            except ARTIFACT_ERRORS as error:
                self.models.problems.append(f"{target.target_id}: champion {model.version} unusable ({error})")
        return services, versions

    def _score(
        self,
        services: dict[str, ForecastEnsemble],
        history: pd.DataFrame,
        *,
        windows: list[BusinessWindow],
        split: datetime,
        now: datetime,
        step: int,
    ) -> dict[str, Scores]:
        """MASE / MAPE / sMAPE per target over holdout origins (each service forecasts its own targets)."""
        import numpy as np
        import pandas as pd

        from models.api import ForecastPath
        from models.backtest import mase_scale, smape
        from models.prep import season_steps

        if not services:
            return {}
        horizon = max(1, self.eval_horizon_seconds // step)
        origins = []
        origin = split
        while origin + timedelta(seconds=self.eval_horizon_seconds) <= now:
            origins.append(origin)
            origin += timedelta(hours=self.eval_every_hours)
        truth: dict[str, pd.Series] = {
            str(uid): pd.Series(part["y"].to_numpy(dtype=float), index=pd.DatetimeIndex(part["ds"]))
            for uid, part in history.groupby("unique_id")
        }
        season = season_steps(step)
        naive_split = naive_utc(split)
        errors: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {tid: [] for tid in services}
        groups: dict[int, tuple[ForecastEnsemble, list[str]]] = {}
        for tid, service in services.items():
            groups.setdefault(id(service), (service, []))[1].append(tid)
        for service, tids in groups.values():
            own = history[history["unique_id"].isin(tids)]
            own_windows = [w for w in windows if w.unique_id in tids]
            for at in origins:
                paths = service.forecast(own, now=naive_utc(at), horizon_steps=horizon, events=own_windows)
                for tid in tids:
                    path = paths.get(tid)
                    if isinstance(path, ForecastPath) and tid in truth:
                        actual = truth[tid].reindex(pd.DatetimeIndex(path.ds)).to_numpy()
                        errors[tid].append((actual, path.p50))
        out: dict[str, Scores] = {}
        for tid, pairs in errors.items():
            if not pairs or tid not in truth:
                out[tid] = NO_SCORES
                continue
            before = truth[tid][truth[tid].index < naive_split]
            grid = before.reindex(pd.date_range(before.index.min(), before.index.max(), freq=f"{step}s"))
            scale = mase_scale(grid.to_numpy(), season) if len(before) else math.nan
            actual = np.concatenate([a for a, _ in pairs])
            forecast = np.concatenate([f for _, f in pairs])
            known = np.isfinite(actual)
            if not known.any():
                out[tid] = Scores(math.nan, math.nan, math.nan, len(pairs))
                continue
            mae = float(np.mean(np.abs(actual[known] - forecast[known])))
            positive = known & (np.abs(actual) > 0)
            mape = (
                float(np.mean(np.abs(actual[positive] - forecast[positive]) / np.abs(actual[positive])) * 100)
                if positive.any()
                else math.nan
            )
            out[tid] = Scores(
                mase=mae / scale if math.isfinite(scale) and scale > 0 else math.nan,
                mape=mape,
                smape=smape(actual, forecast),
                origins=len(pairs),
            )
        return out

    def _stored_learner_state(self, event_types: set[str]) -> dict[str, Any]:
        """The learner's state as stored: uplift and count per event type, and the windows already seen."""
        effects: dict[str, dict[str, float]] = {}
        seen: list[str] = []
        for event_type in sorted(event_types):
            effect = self.store.event_effect(event_type)
            if effect is not None:
                effects[event_type] = {"uplift": effect.multiplier, "count": effect.samples}
                ends = _seen_windows(effect)
                seen += sorted(ends, key=lambda key: (ends[key], key))
        return {"effects": effects, "seen": seen}

    def _store_effects(
        self, service: ForecastEnsemble, now: datetime, *, windows: Sequence[BusinessWindow], start: datetime
    ) -> None:
        """Keep the uplift learned per event type (all targets) for the forecaster's fallback models.

        The windows folded in are kept with it (merged with those another batch's trainer stored
        meanwhile); windows ending before the history start can no longer come back and are dropped.
        """
        from models.events import MAX_SEEN, window_key
        from models.prep import to_unix_seconds

        state = service.event_effects.state
        observed = set(state["seen"])
        ends: dict[str, dict[str, float]] = {}
        for window in windows:
            if (key := window_key(window)) in observed:
                ends.setdefault(window.event_type, {})[key] = float(to_unix_seconds(window.end))
        oldest = float(to_unix_seconds(start))
        for event_type, effect in state["effects"].items():
            for _ in range(3):
                current = self.store.event_effect(event_type)
                seen = {} if current is None else _seen_windows(current)
                seen.update(ends.get(event_type, {}))
                kept = sorted(((end, key) for key, end in seen.items() if end > oldest), reverse=True)[:MAX_SEEN]
                other = {} if current is None else {k: v for k, v in current.extra.items() if not k.startswith(SEEN)}
                record = EventEffect(
                    event_type=event_type,
                    target_id="*",
                    multiplier=float(effect["uplift"]),
                    samples=int(effect["count"]),
                    updated_at=now.astimezone(UTC),
                    extra=other | {SEEN + key: end for end, key in kept},
                    version=0 if current is None else current.version,
                )
                try:
                    self.store.put_event_effect(record)
                    break
                except ConflictError:
                    continue


#: prefix of the ``EventEffect.extra`` keys naming a window already folded into the effect
SEEN = "seen:"


def _seen_windows(effect: EventEffect) -> dict[str, float]:
    """Window keys already folded into ``effect`` -> the window's end (Unix seconds)."""
    return {k[len(SEEN) :]: float(v) for k, v in effect.extra.items() if k.startswith(SEEN)}
