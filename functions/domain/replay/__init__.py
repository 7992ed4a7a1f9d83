"""The replay of docs/replay-spec.md: a recorded load trace through forescale, the reactive rule and
the oracle, against one simulated fleet, with the same scores for all three.

``run_replay(trace, Scenario(...), forecaster=ForecastEnsemble(...))`` returns a :class:`ReplayResult`;
:mod:`forescale_tools.report` turns it into CSVs, a picture and an HTML page.
"""

from functions.domain.fleet import Fleet, demand, simulate
from functions.domain.replay.policies import Observation, OraclePolicy, PredictivePolicy, ReactivePolicy
from functions.domain.replay.runner import POLICY_NAMES, PolicyRun, ReplayResult, run_replay
from functions.domain.replay.scenario import ResolvedScenario, Scenario
from functions.domain.replay.scores import SCORE_NAMES, Scores, score

__all__ = [
    "POLICY_NAMES",
    "SCORE_NAMES",
    "Fleet",
    "Observation",
    "OraclePolicy",
    "PolicyRun",
    "PredictivePolicy",
    "ReactivePolicy",
    "ReplayResult",
    "ResolvedScenario",
    "Scenario",
    "Scores",
    "demand",
    "run_replay",
    "score",
    "simulate",
]
