"""The simulated fleet of docs/replay-spec.md: demand, boot delay, immediate scale-in, cost of every launch.

Every policy is judged against the same fleet, so the numbers of forescale, the reactive rule and the
oracle can be compared with each other and re-computed by anyone from the CSVs the replay writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from functions.domain.capacity_model import instances_for_array


def demand(load: np.ndarray, *, capacity_per_instance: float, slo_utilization: float, min_instances: int) -> np.ndarray:
    """``d_t = max(min_instances, ceil(L_t / (cap * slo)))``; -1 where the load is unknown."""
    need = instances_for_array(load, capacity_per_instance * slo_utilization)
    return np.where(need < 0, -1, np.maximum(need, min_instances))


@dataclass
class Fleet:
    """Instances grouped in cohorts by the step they enter service, oldest first.

    ``set_desired(t, n)`` launches the missing instances at step ``t`` (in service from
    ``t + boot_steps``) or removes the surplus at once, the booting (newest) ones first.
    """

    boot_steps: int
    initial_in_service: int = 0
    _cohorts: list[list[int]] = field(default_factory=list, init=False)
    _alive: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.boot_steps < 0:
            raise ValueError("boot_steps: must be >= 0")
        if self.initial_in_service < 0:
            raise ValueError("initial_in_service: must be >= 0")
        if self.initial_in_service:
            self._cohorts.append([-(10**12), self.initial_in_service])
        self._alive = self.initial_in_service

    @property
    def alive(self) -> int:
        """Every instance paid for: in service and booting."""
        return self._alive

    def set_desired(self, step: int, desired: int) -> None:
        if desired < 0:
            raise ValueError(f"desired: {desired} is negative")
        surplus = self._alive - desired
        if surplus < 0:
            self._cohorts.append([step + self.boot_steps, -surplus])
        while surplus > 0:
            newest = self._cohorts[-1]
            taken = min(surplus, newest[1])
            newest[1] -= taken
            surplus -= taken
            if newest[1] == 0:
                self._cohorts.pop()
        self._alive = desired

    def in_service(self, step: int) -> int:
        """Instances serving at ``step`` (launched at least ``boot_steps`` before)."""
        # Merge the cohorts already in service into the first one so the list stays short.
        cohorts = self._cohorts
        while len(cohorts) > 1 and cohorts[1][0] <= step:
            cohorts[0][1] += cohorts[1][1]
            del cohorts[1]
        if cohorts and cohorts[0][0] <= step:
            return cohorts[0][1]
        return 0


def simulate(desired: np.ndarray, *, boot_steps: int, initial_in_service: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fleet response to a whole ``desired`` series: ``(in_service, alive)`` per step."""
    fleet = Fleet(boot_steps=boot_steps, initial_in_service=initial_in_service)
    in_service = np.zeros(len(desired), dtype=np.int64)
    alive = np.zeros(len(desired), dtype=np.int64)
    for step, value in enumerate(desired):
        fleet.set_desired(step, int(value))
        in_service[step] = fleet.in_service(step)
        alive[step] = fleet.alive
    return in_service, alive
