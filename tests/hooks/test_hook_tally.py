"""The hook's exchange tally: what the push's ``auto`` window learns of LinkedIn from each sending thread.

Counts only (answers, 429s); the seconds are checked to be sums of what was measured, never against a clock.
"""

from __future__ import annotations

import threading

EVENTS_PATH = "/rest/conversionEvents"


def test_the_tally_counts_answers_and_the_429s_the_hook_retried(hook, sandbox, rule, make_events):
    sandbox.admin.set_faults([{"kind": "429", "every": 2, "limit": 1, "path": EVENTS_PATH}])
    hook.send_conversion_events(make_events(rule["id"], 2, prefix="before"))  # outside a tally: not counted
    with hook.tally_exchanges() as tally:
        result = hook.send_conversion_events(make_events(rule["id"], 3, prefix="tallied"))
    assert result.accepted == 3
    assert (tally.answers, tally.throttled) == (1, 1)  # the 429, then the retry's answer
    assert tally.answer_seconds > 0
    assert tally.paced_seconds >= 0
    hook.send_conversion_events(make_events(rule["id"], 1, prefix="after"))
    assert (tally.answers, tally.throttled) == (1, 1)  # closed: later calls leave it alone


def test_each_thread_tallies_only_its_own_calls(hook, rule, make_events):
    tallies = {}

    def send(name: str, batches: int) -> None:
        with hook.tally_exchanges() as tally:
            for n in range(batches):
                hook.send_conversion_events(make_events(rule["id"], 1, prefix=f"{name}-{n}"))
        tallies[name] = tally

    threads = [threading.Thread(target=send, args=(name, n)) for name, n in (("one", 1), ("three", 3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert {name: tally.answers for name, tally in tallies.items()} == {"one": 1, "three": 3}
