CREATE SCHEMA IF NOT EXISTS "canvas";
CREATE TYPE "canvas"."developer_keys__workflow_state" AS ENUM ('__dap_unspecified__', 'active', 'deleted', 'inactive');
CREATE TABLE "canvas"."developer_keys" (
"id" bigint NOT NULL,
"name" varchar(255),
"user_id" bigint,
"created_at" timestamp NOT NULL,
"updated_at" timestamp NOT NULL,
"scopes" text,
"workflow_state" "canvas"."developer_keys__workflow_state" NOT NULL,
"account_id" bigint,
"redirect_uri" varchar(255),
"icon_url" varchar(255),
"redirect_uris" varchar(255) ARRAY NOT NULL,
"notes" text,
"access_token_count" integer NOT NULL,
"require_scopes" boolean NOT NULL,
"test_cluster_only" boolean NOT NULL,
"public_jwk" text,
"allow_includes" boolean NOT NULL,
"is_lti_key" boolean NOT NULL,
"client_credentials_audience" text,
"email" varchar(255),
"user_name" varchar(255),
CONSTRAINT "pk_developer_keys" PRIMARY KEY ("id")
);
COMMENT ON COLUMN "canvas"."developer_keys"."id" IS 'The unique identifier for a developer key record.';
COMMENT ON COLUMN "canvas"."developer_keys"."name" IS 'The name of the developer key.';
COMMENT ON COLUMN "canvas"."developer_keys"."user_id" IS 'The unique ID of a user.';
COMMENT ON COLUMN "canvas"."developer_keys"."created_at" IS 'Timestamp of when a `developer_keys` record was created.';
COMMENT ON COLUMN "canvas"."developer_keys"."updated_at" IS 'Timestamp of when a `developer_keys` record was updated.';
COMMENT ON COLUMN "canvas"."developer_keys"."scopes" IS 'The list of scopes the developer key''s access tokens may use.';
COMMENT ON COLUMN "canvas"."developer_keys"."workflow_state" IS 'The workflow state of the developer key.';
COMMENT ON COLUMN "canvas"."developer_keys"."account_id" IS 'Points to the account associated with the course. Could be Canvas root account or sub-account ID.';
COMMENT ON COLUMN "canvas"."developer_keys"."redirect_uri" IS '(legacy) The valid redirect URI for the developer key.';
COMMENT ON COLUMN "canvas"."developer_keys"."icon_url" IS 'A URL pointing to the icon of the developer key.';
COMMENT ON COLUMN "canvas"."developer_keys"."redirect_uris" IS 'The list of valid redirect URIs for the developer key.';
COMMENT ON COLUMN "canvas"."developer_keys"."notes" IS 'Any notes added to the developer key.';
COMMENT ON COLUMN "canvas"."developer_keys"."access_token_count" IS 'The number of times the developer key has been used.';
COMMENT ON COLUMN "canvas"."developer_keys"."require_scopes" IS 'Whether or not access token for the developer key are required to be scoped.';
COMMENT ON COLUMN "canvas"."developer_keys"."test_cluster_only" IS 'If true, the developer key''s access tokens are only valid on Canvas test and beta instances.';
COMMENT ON COLUMN "canvas"."developer_keys"."public_jwk" IS 'The public key (in JWK format) for the developer key. Used if the developer key is associated with an LTI 1.3 tool.';
COMMENT ON COLUMN "canvas"."developer_keys"."allow_includes" IS 'If true, requests made with this key''s access token can use "includes" parameters to retrieve additional data in each request.';
COMMENT ON COLUMN "canvas"."developer_keys"."is_lti_key" IS 'If true, the developer key is intended to be used with LTI 1.3 tools.';
COMMENT ON COLUMN "canvas"."developer_keys"."client_credentials_audience" IS 'The intended audience of client credentials issued by the developer key. If internal (default), credentials will be verified by Canvas; if external, credentials will be verified by other parties using Canvas'' public key.';
COMMENT ON COLUMN "canvas"."developer_keys"."email" IS 'The email address of the developer key''s owner.';
COMMENT ON COLUMN "canvas"."developer_keys"."user_name" IS 'the login ID of the user who originated developer key.';
