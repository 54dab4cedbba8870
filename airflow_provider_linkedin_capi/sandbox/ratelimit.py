"""Per-access-token throttling: a sliding 60-second window plus a counter per UTC day.

LinkedIn's CAPI limits are quoted as 600 requests/minute and 500,000/day per member token (THIRD-PARTY,
docs/linkedin-contract.md §6.2); both numbers are settings. The 429 carries no Retry-After, as on LinkedIn.
"""

from __future__ import annotations

import time
from collections import deque

THROTTLED_BODY = {
    "serviceErrorCode": 101,
    "message": "Resource level throttle limit for calls to this resource is reached.",
    "status": 429,
}


class RateLimiter:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._windows: dict[str, deque[float]] = {}
        self._days: dict[str, tuple[int, int]] = {}

    def allow(self, token: str, per_minute: int, per_day: int) -> bool:
        """Count one request for ``token``; ``False`` when it is over either budget (then not counted)."""
        now = time.monotonic()
        window = self._windows.get(token)
        if window is None:
            window = self._windows[token] = deque()
        while window and now - window[0] >= 60.0:
            window.popleft()
        day = int(time.time() // 86_400)
        stored_day, count = self._days.get(token, (day, 0))
        if stored_day != day:
            count = 0
        if len(window) >= per_minute or count >= per_day:
            return False
        window.append(now)
        self._days[token] = (day, count + 1)
        return True
