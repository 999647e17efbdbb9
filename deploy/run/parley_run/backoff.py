"""How long a crashed service waits before it is started again."""

from dataclasses import dataclass, field

from parley_run.config import RestartPolicy


@dataclass
class RestartBackoff:
    policy: RestartPolicy
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.policy.first_delay

    def delay_after(self, ran_for: float) -> float:
        """The wait before the next start, given how long the process that just exited ran.
        A process that ran long enough to be called stable starts the sequence over."""
        if ran_for >= self.policy.stable_after:
            self._next = self.policy.first_delay
        delay = self._next
        self._next = min(self._next * 2, self.policy.max_delay)
        return delay
