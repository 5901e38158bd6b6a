CREATE SCHEMA IF NOT EXISTS "canvas";
CREATE TYPE "canvas"."assignments__context_type" AS ENUM ('__dap_unspecified__', 'Course');
CREATE TYPE "canvas"."assignments__grading_type" AS ENUM ('__dap_unspecified__', 'gpa_scale', 'letter_grade', 'not_graded', 'pass_fail', 'percent', 'points', 'default');
CREATE TYPE "canvas"."assignments__submission_types" AS ENUM ('__dap_unspecified__', 'discussion_topic', 'online_quiz', 'on_paper', 'none', 'external_tool', 'online', 'online_text_entry', 'online_url', 'online_upload', 'media_recording', 'not_graded', 'wiki_page', 'student_annotation', 'default_external_tool');
CREATE TYPE "canvas"."assignments__turnitin_settings__exclude_small_matches_type" AS ENUM ('__dap_unspecified__', 'off', 'words', 'percent');
CREATE TYPE "canvas"."assignments__turnitin_settings__originality_report_visibility" AS ENUM ('__dap_unspecified__', 'immediate', 'after_grading', 'after_due_date', 'never');
CREATE TYPE "canvas"."assignments__workflow_state" AS ENUM ('__dap_unspecified__', 'unpublished', 'published', 'deleted', 'duplicating', 'fail_to_import', 'failed_to_duplicate', 'failed_to_import', 'failed_to_migrate', 'importing', 'migrating');
CREATE TABLE "canvas"."assignments" (
"id" bigint NOT NULL,
"integration_id" varchar(255),
"lti_context_id" text,
"created_at" timestamp,
"updated_at" timestamp,
"workflow_state" "canvas"."assignments__workflow_state" NOT NULL,
"due_at" timestamp,
"unlock_at" timestamp,
"lock_at" timestamp,
"points_possible" double precision,
"grading_type" "canvas"."assignments__grading_type",
"submission_types" "canvas"."assignments__submission_types" ARRAY NOT NULL,
"assignment_group_id" bigint,
"grading_standard_id" bigint,
"submissions_downloads" integer NOT NULL,
"peer_review_count" integer NOT NULL,
"peer_reviews_due_at" timestamp,
"peer_reviews_assigned" boolean NOT NULL,
"peer_reviews" boolean NOT NULL,
"context_id" bigint NOT NULL,
"context_type" "canvas"."assignments__context_type" NOT NULL,
"automatic_peer_reviews" boolean NOT NULL,
"all_day" boolean NOT NULL,
"all_day_date" date,
"could_be_locked" boolean NOT NULL,
"migration_id" varchar(255),
"grade_group_students_individually" boolean NOT NULL,
"anonymous_peer_reviews" boolean NOT NULL,
"turnitin_enabled" boolean NOT NULL,
"allowed_extensions" varchar(255),
"group_category_id" bigint,
"freeze_on_copy" boolean NOT NULL,
"only_visible_to_overrides" boolean NOT NULL,
"post_to_sis" boolean NOT NULL,
"moderated_grading" boolean NOT NULL,
"grades_published_at" timestamp,
"omit_from_final_grade" boolean NOT NULL,
"intra_group_peer_reviews" boolean NOT NULL,
"vericite_enabled" boolean NOT NULL,
"anonymous_instructor_annotations" boolean NOT NULL,
"duplicate_of_id" bigint,
"anonymous_grading" boolean NOT NULL,
"graders_anonymous_to_graders" boolean NOT NULL,
"grader_count" integer NOT NULL,
"grader_comments_visible_to_graders" boolean NOT NULL,
"grader_section_id" bigint,
"final_grader_id" bigint,
"grader_names_visible_to_final_grader" boolean NOT NULL,
"allowed_attempts" integer,
"sis_source_id" text,
"annotatable_attachment_id" bigint,
"important_dates" boolean NOT NULL,
"description" text,
"position" integer,
"title" varchar(255),
"turnitin_settings" jsonb,
CONSTRAINT "pk_assignments" PRIMARY KEY ("id")
);
COMMENT ON COLUMN "canvas"."assignments"."id" IS 'Primary key for this record in the Canvas assignments table.';
COMMENT ON COLUMN "canvas"."assignments"."integration_id" IS 'Third Party unique identifier for Assignments.';
COMMENT ON COLUMN "canvas"."assignments"."lti_context_id" IS 'UUID of the Canvas context in LTI standard. Secondary ID for this context, could be used in API to identify resource as well.';
COMMENT ON COLUMN "canvas"."assignments"."created_at" IS 'The time at which this assignment was originally created.';
COMMENT ON COLUMN "canvas"."assignments"."updated_at" IS 'The time at which this assignment was last modified.';
COMMENT ON COLUMN "canvas"."assignments"."workflow_state" IS 'Current workflow state of the assignment.';
COMMENT ON COLUMN "canvas"."assignments"."due_at" IS 'The due date for the assignment. Returns NULL if not present.';
COMMENT ON COLUMN "canvas"."assignments"."unlock_at" IS 'The unlock date, meaning that the assignment is unlocked after this date. Returns NULL if not present.';
COMMENT ON COLUMN "canvas"."assignments"."lock_at" IS 'The lock date, meaning that the assignment is locked after this date. Returns NULL if not present.';
COMMENT ON COLUMN "canvas"."assignments"."points_possible" IS 'The maximum points possible for the assignment.';
COMMENT ON COLUMN "canvas"."assignments"."grading_type" IS 'The type of grading the assignment receives.';
COMMENT ON COLUMN "canvas"."assignments"."submission_types" IS 'The types of submissions allowed for this assignment.';
COMMENT ON COLUMN "canvas"."assignments"."assignment_group_id" IS 'Identifies which assignment grouping the particular assignment is part of (assignment groups may have a scoring weight to determine how much of the assignment group contributes to the total grade).';
COMMENT ON COLUMN "canvas"."assignments"."grading_standard_id" IS 'The ID of the grading standard being applied to this assignment. Valid if `grading_type` is `letter_grade` or `gpa_scale`.';
COMMENT ON COLUMN "canvas"."assignments"."submissions_downloads" IS 'Number of times submissions have been downloaded in a zip bundle.';
COMMENT ON COLUMN "canvas"."assignments"."peer_review_count" IS 'Represents the amount of reviews each user is assigned. NOTE: This key is NOT present unless you have automatic_peer_reviews set to true.';
COMMENT ON COLUMN "canvas"."assignments"."peer_reviews_due_at" IS 'Timestamp for when peer reviews should be completed.';
COMMENT ON COLUMN "canvas"."assignments"."peer_reviews_assigned" IS 'True if all peer reviews have been assigned.';
COMMENT ON COLUMN "canvas"."assignments"."peer_reviews" IS 'Indicates if peer reviews are required for this assignment.';
COMMENT ON COLUMN "canvas"."assignments"."context_id" IS 'The ID of the object this assignment belongs to. Typically course.';
COMMENT ON COLUMN "canvas"."assignments"."context_type" IS 'The type of object this assignment belongs to.';
COMMENT ON COLUMN "canvas"."assignments"."automatic_peer_reviews" IS 'Indicates if peer reviews are assigned automatically. If false, the teacher is expected to manually assign peer reviews.';
COMMENT ON COLUMN "canvas"."assignments"."all_day" IS 'True if a specific time for when the assignment is due was not given. The effective due time will be 11:59pm.';
COMMENT ON COLUMN "canvas"."assignments"."all_day_date" IS 'The date version of the due date if the `all_day` flag is true.';
COMMENT ON COLUMN "canvas"."assignments"."could_be_locked" IS 'True if the assignment is under a module that can be locked.';
COMMENT ON COLUMN "canvas"."assignments"."migration_id" IS 'The unique identifier of the migration that imported this assignment. For assignments which have been imported via a content migration, an opaque identifier for the assignment in its source. This field is used by Canvas to identify when an assignment is being re-imported, and can also be used to identify multiple assignments that have been copied from the same source.';
COMMENT ON COLUMN "canvas"."assignments"."grade_group_students_individually" IS 'If this is a group assignment, boolean flag indicating whether or not students will be graded individually.';
COMMENT ON COLUMN "canvas"."assignments"."anonymous_peer_reviews" IS 'If true, hide the identities of peer-reviewing and peer-reviewed students. Only relevant if `peer_reviews` is true.';
COMMENT ON COLUMN "canvas"."assignments"."turnitin_enabled" IS 'Flag indicating whether or not Turnitin has been enabled for the assignment. NOTE: This flag will not appear unless your account has the Turnitin plugin available.';
COMMENT ON COLUMN "canvas"."assignments"."allowed_extensions" IS 'Allowed file extensions, which take effect if `submission_types` includes `online_upload`.';
COMMENT ON COLUMN "canvas"."assignments"."group_category_id" IS 'The ID of the assignment’s group set, if this is a group assignment. For group discussions, set `group_category_id` on the discussion topic, not the linked assignment.';
COMMENT ON COLUMN "canvas"."assignments"."freeze_on_copy" IS 'Indicates if assignment will be frozen when it is copied. NOTE: This field will only be present if the AssignmentFreezer plugin is available for your account.';
COMMENT ON COLUMN "canvas"."assignments"."only_visible_to_overrides" IS 'Indicates whether the assignment is only visible to overrides.';
COMMENT ON COLUMN "canvas"."assignments"."post_to_sis" IS 'Present if Sync Grades to Student Information System feature is enabled.';
COMMENT ON COLUMN "canvas"."assignments"."moderated_grading" IS 'Indicates if the assignment is moderated.';
COMMENT ON COLUMN "canvas"."assignments"."grades_published_at" IS 'For assignments with moderated grading, a timestamp identifying when provisional grades were published.';
COMMENT ON COLUMN "canvas"."assignments"."omit_from_final_grade" IS 'If true, the assignment will be omitted from the student''s final grade.';
COMMENT ON COLUMN "canvas"."assignments"."intra_group_peer_reviews" IS 'Indicates whether or not members from within the same group on a group assignment can be assigned to peer review their own group''s work.';
COMMENT ON COLUMN "canvas"."assignments"."vericite_enabled" IS 'Flag indicating whether or not VeriCite has been enabled for the assignment. NOTE: This flag will not appear unless your account has the VeriCite plugin available.';
COMMENT ON COLUMN "canvas"."assignments"."anonymous_instructor_annotations" IS 'Flag indicating whether instructor annotations in document submissions for this assignment should be anonymous.';
COMMENT ON COLUMN "canvas"."assignments"."duplicate_of_id" IS 'If the assignment is a duplicate, the ID of the original assignment.';
COMMENT ON COLUMN "canvas"."assignments"."anonymous_grading" IS 'Indicates if the assignment is graded anonymously. If true, graders cannot see student identities.';
COMMENT ON COLUMN "canvas"."assignments"."graders_anonymous_to_graders" IS 'Indicates if provisional graders'' identities are hidden from other provisional graders. Only relevant for moderated assignments with grader_comments_visible_to_graders set to true.';
COMMENT ON COLUMN "canvas"."assignments"."grader_count" IS 'The maximum number of provisional graders who may issue grades for this assignment. Only relevant for moderated assignments. Must be a positive value, and must be set to 1 if the course has fewer than two active instructors. Otherwise, the maximum value is the number of active instructors in the course minus one, or 10 if the course has more than 11 active instructors.';
COMMENT ON COLUMN "canvas"."assignments"."grader_comments_visible_to_graders" IS 'Indicates if provisional graders'' comments are visible to other provisional graders. Only relevant for moderated assignments.';
COMMENT ON COLUMN "canvas"."assignments"."grader_section_id" IS 'Graders for an assignment with anonymous moderated marking are assigned from this section if provided, or all sections otherwise.';
COMMENT ON COLUMN "canvas"."assignments"."final_grader_id" IS 'User ID of the final grader.';
COMMENT ON COLUMN "canvas"."assignments"."grader_names_visible_to_final_grader" IS 'Indicates if provisional grader identities are visible to the final grader. Only relevant for moderated assignments.';
COMMENT ON COLUMN "canvas"."assignments"."allowed_attempts" IS 'The number of submission attempts a student can make for this assignment. -1 is considered unlimited.';
COMMENT ON COLUMN "canvas"."assignments"."sis_source_id" IS 'ID for the correlated record for the assignment in the Student Information System. It can be NULL.';
COMMENT ON COLUMN "canvas"."assignments"."annotatable_attachment_id" IS 'For an `Annotated Document` type assignment, the ID of the annotatable attachment.';
COMMENT ON COLUMN "canvas"."assignments"."important_dates" IS 'Indicates if the assignment has important dates.';
COMMENT ON COLUMN "canvas"."assignments"."description" IS 'The assignment description in an HTML fragment.';
COMMENT ON COLUMN "canvas"."assignments"."position" IS 'The sorting order of the assignment in the group.';
COMMENT ON COLUMN "canvas"."assignments"."title" IS 'Title of the assignment.';
COMMENT ON COLUMN "canvas"."assignments"."turnitin_settings" IS 'Type extracted from column `assignments.turnitin_settings`.';
