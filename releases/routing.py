"""Which model of a slot answers an end user: the traffic split, sticky per end user.

An end user's bucket is the SHA-256 of "<workspace id>:<slot name>:<end user id>" read as a number in [0, 1); the
candidate answers when the bucket falls below the slot's candidate share. The same user of the same slot lands in the
same bucket on every request and every server, so a conversation never changes model halfway, and changing the share
from 10% to 20% keeps the first 10% where they were. A request without an end user id is drawn with `secrets`.
"""

import hashlib
import secrets

BUCKETS = 2**64


def end_user_bucket(*, workspace_id: int, slot: str, end_user: str) -> float:
    digest = hashlib.sha256(f"{workspace_id}:{slot}:{end_user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / BUCKETS


def end_user_hash(end_user: str) -> str:
    return hashlib.sha256(end_user.encode()).hexdigest() if end_user else ""


def candidate_answers(*, workspace_id: int, slot: str, end_user: str, share: float) -> bool:
    if share <= 0:
        return False
    bucket = (end_user_bucket(workspace_id=workspace_id, slot=slot, end_user=end_user) if end_user
              else secrets.randbelow(BUCKETS) / BUCKETS)
    return bucket < share
