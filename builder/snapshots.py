"""Revision snapshots by content: each step's values are stored once (models.StepSnapshot, under
the digest of their JSON) and a revision keeps its steps' digests in order.

A save then writes only the steps it changed, not every step's copy again: a 200-step sequence
of written emails is about 200 KB of JSON, which a whole-spec snapshot re-serialised and
rewrote on every autosave. Pure Python (no Django), so the migration that converted older
revisions computes digests the same way (it keeps its own frozen copy of `digest_of`).
"""

import dataclasses
import hashlib
import json

from builder import spec

# (digest, data) by a step's values: an unchanged step (the other 199 of an edit) is neither
# serialised nor hashed again. Bounded; a pure function of the values, so any process may keep it.
_DIGESTS: dict[tuple, tuple[str, dict]] = {}
_DIGESTS_LIMIT = 20_000
_FIELDS = tuple(f.name for f in dataclasses.fields(spec.Step) if f.name != "extra")


def step_data(step: spec.Step) -> dict:
    """One step as a revision stores it: exactly what spec.to_snapshot() writes for it."""
    return dataclasses.asdict(step)


def digest_of(data: dict) -> str:
    """The address of a step's stored values: sha256 of its canonical JSON."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def digested(step: spec.Step) -> tuple[str, dict]:
    """(digest, data) of `step`. The data is shared by every caller with the same step: read it,
    never change it."""
    try:
        # The values as rows give them (typed by their columns, so True is never 1 here).
        key = (
            tuple(map(step.__getattribute__, _FIELDS)),
            json.dumps(step.extra, sort_keys=True) if step.extra else "",
        )
        found = _DIGESTS.get(key)
    except TypeError:  # an unhashable value (odd input from a file): just work it out
        data = step_data(step)
        return digest_of(data), data
    if found is None:
        if len(_DIGESTS) >= _DIGESTS_LIMIT:
            _DIGESTS.clear()
        data = step_data(step)
        found = _DIGESTS[key] = (digest_of(data), data)
    return found


def head_of(sequence_spec: spec.SequenceSpec) -> dict:
    """The sequence's own values as a revision stores them: spec.to_snapshot() without steps."""
    data = spec.to_snapshot(dataclasses.replace(sequence_spec, steps=[]))
    del data["steps"]
    return data
