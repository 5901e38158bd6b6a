"""How big each table is and how its rows change: the realism knobs, in one place.

``--scale N`` is the number of submissions at epoch 0. The big Canvas tables grow in
proportion to it, the rest stay small. Change profiles are per family of tables: logs only
grow, enrollment-like tables churn, configuration tables barely move.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SCALE = 20_000
EPOCH_HOURS = 4
EPOCH_MS = EPOCH_HOURS * 3600 * 1000
DAY_MS = 24 * 3600 * 1000
HISTORY_MS = 3 * 365 * DAY_MS  # how far back epoch-0 rows were created
LOG_RETENTION_MS = 30 * DAY_MS  # canvas_logs keeps 30 days
# Epoch-0 logs reach back a week only, so nothing leaves the 30-day retention before
# epoch 138: a replica stays equal to the snapshot over any realistic test run.
LOG_HISTORY_MS = 7 * DAY_MS

# Share of the scale (submissions at epoch 0) per big table.
_FACTORS: dict[str, float] = {
    "submissions": 1.0,
    "submission_versions": 1.0,
    "web_logs": 2.0,
    "submission_comments": 0.2,
    "attachments": 0.2,
    "scores": 0.15,
    "enrollments": 0.1,
    "enrollment_states": 0.1,
    "quiz_submissions": 0.1,
    "discussion_entries": 0.1,
    "discussion_entry_participants": 0.2,
    "learning_outcome_results": 0.1,
    "learning_outcome_question_results": 0.1,
    "context_module_progressions": 0.1,
    "conversation_messages": 0.1,
    "conversation_participants": 0.1,
    "conversation_message_participants": 0.2,
    "content_participations": 0.1,
    "lti_results": 0.05,
    "rubric_assessments": 0.05,
    "conversations": 0.05,
    "content_tags": 0.05,
    "group_memberships": 0.05,
    "users": 0.04,
    "pseudonyms": 0.04,
    "communication_channels": 0.05,
    "user_account_associations": 0.04,
    "discussion_topic_participants": 0.05,
    "assignments": 0.025,
    "assignment_override_students": 0.02,
    "quiz_questions": 0.025,
    "assessment_questions": 0.025,
    "wiki_pages": 0.02,
    "calendar_events": 0.02,
    "favorites": 0.02,
    "originality_reports": 0.02,
    "canvadocs_annotation_contexts": 0.02,
    "assignment_overrides": 0.01,
    "discussion_topics": 0.01,
    "assignment_groups": 0.01,
    "course_sections": 0.005,
    "courses": 0.0025,
    "course_account_associations": 0.0025,
    "wikis": 0.0025,
}
SMALL_TABLE_ROWS = 40
# The ``enrollment_states`` key is the enrollment id: both tables share one row lifecycle.
SHARED_LIFECYCLE = {"enrollment_states": "enrollments"}


def base_rows(table: str, scale: int) -> int:
    """Rows of ``table`` at epoch 0 for a given scale."""
    lifecycle_table = SHARED_LIFECYCLE.get(table, table)
    factor = _FACTORS.get(lifecycle_table)
    small = max(SMALL_TABLE_ROWS, scale // 1000)
    if factor is None:
        return small
    return max(small, round(scale * factor))


@dataclass(frozen=True)
class ChangeProfile:
    """How a table's rows change per 4-hour epoch.

    ``insert_ppm``: new rows per epoch, in millionths of the epoch-0 row count.
    ``update_periods``: (share in thousandths, period in epochs) classes; a row of a class
    is updated every ``period`` epochs, rows outside every class are never updated.
    ``delete_permille``: share of rows that are deleted at some point, and ``delete_span``
    the epochs over which those deletions spread after the row's insertion.
    """

    insert_ppm: int
    update_periods: tuple[tuple[int, int], ...]
    delete_permille: int
    delete_span: int
    same_epoch_delete_permille: int = 2


_ACTIVITY = ChangeProfile(
    insert_ppm=6_000, update_periods=((250, 60), (120, 12), (30, 3)), delete_permille=40,
    delete_span=300,
)  # fmt: skip
_CONFIG = ChangeProfile(
    insert_ppm=2_000, update_periods=((150, 90), (40, 18)), delete_permille=20, delete_span=600
)
_LOGS = ChangeProfile(
    insert_ppm=1_000_000 * EPOCH_MS // LOG_HISTORY_MS,
    update_periods=(),
    delete_permille=0,
    delete_span=1,
    same_epoch_delete_permille=0,
)


def change_profile(namespace: str, table: str) -> ChangeProfile:
    if namespace == "canvas_logs":
        return _LOGS
    if table in _FACTORS or table in SHARED_LIFECYCLE:
        return _ACTIVITY
    return _CONFIG


def history_ms(namespace: str) -> int:
    """How far back before epoch 0 the rows of a namespace were created."""
    return LOG_HISTORY_MS if namespace == "canvas_logs" else HISTORY_MS


def retention_ms(namespace: str) -> int | None:
    """How far back incremental queries and snapshots reach, or None for no limit."""
    return LOG_RETENTION_MS if namespace == "canvas_logs" else None
