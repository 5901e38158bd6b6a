"""Which table an integer ``*_id`` column points at, so foreign keys hit existing rows.

Canvas names foreign keys after the table (``course_id`` -> ``courses``), after a role
(``author_id`` -> ``users``) or polymorphically (``context_id`` with ``context_type``
``Course``). The rules below cover the reference schemas; a column they do not resolve
gets plausible unrelated numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dap_sim import catalog

_ALIASES = {
    "author_id": "users",
    "assessor_id": "users",
    "associated_user_id": "users",
    "created_by_id": "users",
    "editor_id": "users",
    "final_grader_id": "users",
    "grader_id": "users",
    "leader_id": "users",
    "merged_into_user_id": "users",
    "real_user_id": "users",
    "sender_id": "users",
    "parent_account_id": "accounts",
    "consortium_parent_account_id": "accounts",
    "root_account_id": "accounts",
    "course_template_id": "courses",
    "child_course_id": "courses",
    "homeroom_course_id": "courses",
    "nonxlist_course_id": "courses",
    "replacement_course_id": "courses",
    "source_course_id": "courses",
    "template_course_id": "courses",
    "quiz_id": "quizzes",
    "discussion_id": "discussion_topics",
    "root_topic_id": "discussion_topics",
    "old_assignment_id": "assignments",
    "duplicate_of_id": "assignments",
    "root_entry_id": "discussion_entries",
    "parent_folder_id": "folders",
    "parent_calendar_event_id": "calendar_events",
    "grader_section_id": "course_sections",
    "sis_pseudonym_id": "pseudonyms",
    "annotatable_attachment_id": "attachments",
    "avatar_attachment_id": "attachments",
    "exported_attachment_id": "attachments",
    "overview_attachment_id": "attachments",
    "replacement_attachment_id": "attachments",
    "root_attachment_id": "attachments",
    "master_template_id": "master_courses_master_templates",
    "active_migration_id": "master_courses_master_migrations",
    "master_migration_id": "master_courses_master_migrations",
    "child_subscription_id": "master_courses_child_subscriptions",
    "root_learning_outcome_group_id": "learning_outcome_groups",
    "source_outcome_group_id": "learning_outcome_groups",
}
# Per table, where a generic name means something specific.
_TABLE_ALIASES = {("discussion_entries", "parent_id"): "discussion_entries"}


def _plural_candidates(base: str) -> list[str]:
    candidates = [base + "s", base + "es", base]
    if base.endswith("y"):
        candidates.insert(0, base[:-1] + "ies")
    if base.endswith("z"):
        candidates.insert(0, base + "zes")
    return candidates


def class_to_table(class_name: str) -> str | None:
    """``Course`` -> ``courses``, ``Quizzes::QuizSubmission`` -> ``quiz_submissions``."""
    tables = catalog.table_names("canvas")
    last = class_name.rsplit("::", maxsplit=1)[-1]
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", last).lower()
    if class_name.startswith("Lti::"):
        snake = "lti_" + snake
    for candidate in _plural_candidates(snake):
        if candidate in tables:
            return candidate
    return None


def foreign_table(table: str, column: str) -> str | None:
    """The canvas table an integer column refers to, or None (not a known foreign key)."""
    if not column.endswith("_id"):
        return None
    if (table, column) in _TABLE_ALIASES:
        return _TABLE_ALIASES[(table, column)]
    if column in _ALIASES:
        return _ALIASES[column]
    tables = catalog.table_names("canvas")
    for candidate in _plural_candidates(column[:-3]):
        if candidate in tables:
            return candidate
    return None


def polymorphic_type_column(column: str, properties: Mapping[str, Any]) -> str | None:
    """For ``context_id`` the sibling ``context_type`` enum column, if the table has one."""
    if not column.endswith("_id"):
        return None
    sibling = column[:-3] + "_type"
    schema = properties.get(sibling)
    if isinstance(schema, dict) and "enum" in schema:
        return sibling
    return None
