CREATE TABLE "instructure_dap__database_version" (
"version" bigint NOT NULL AUTO_INCREMENT COMMENT 'The version of the database schema.',
CONSTRAINT "pk_instructure_dap__database_version" PRIMARY KEY ("version")
)
COMMENT = 'Table for storing meta-information about the database schema version.';
CREATE TABLE "instructure_dap__table_sync" (
"id" bigint NOT NULL AUTO_INCREMENT,
"source_namespace" varchar(64) NOT NULL COMMENT 'The namespace of the source table exposed by DAP API (e.g. `canvas`).',
"source_table" varchar(64) NOT NULL COMMENT 'The name of the source table exposed by DAP API (e.g. `accounts`).',
"timestamp" datetime NOT NULL COMMENT 'The timestamp of the source table that can be used by the client library in incremental queries during subsequent `syncdb` command executions.',
"schema_version" bigint NOT NULL COMMENT 'The latest schema version of the source table at the time point when it was last initialized or synchronized with the DAP API.',
"target_schema" varchar(64) COMMENT 'The name of the target schema in the local database if applicable (e.g. in case of a PostgreSQL database the tables can be grouped into schemas).',
"target_table" varchar(64) NOT NULL COMMENT 'The name of the target table in the local database. In might differ from the name of the source table. For example in case of a MySQL database, the tables cannot be grouped in schemas. In this case, the implementor can use a prefix that reflects the namespace of the source table. For example, the qualified name `canvas.accounts` would become `canvas__accounts`.',
"schema_description_format" varchar(64) NOT NULL COMMENT 'The format of the schema descriptor (e.g. `json`).',
"schema_description" mediumtext NOT NULL COMMENT 'The latest schema descriptor of the source table at the time point when it was initialized or last synchronized.',
CONSTRAINT "pk_instructure_dap__table_sync" PRIMARY KEY ("id")
)
COMMENT = 'Table for storing meta-information about tables managed by the client library.';
