-- The CI dashboard's database (docs/examples/ci-dashboard.md): the five
-- tables of the original MySQL backend, adapted to PostgreSQL types.
-- int auto_increment -> integer GENERATED ALWAYS AS IDENTITY; datetime ->
-- timestamptz (GitHub sends UTC times with a zone); float -> double
-- precision. The names the original declared UNIQUE on their own are
-- unique per repository here (two repositories may both have a branch
-- "main"). runtime and queuetime, which the original listener computed in
-- Python, are generated columns.

CREATE TABLE repos (
    id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name varchar(100) NOT NULL UNIQUE
);

CREATE TABLE branches (
    id     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name   varchar(255) NOT NULL,
    author varchar(50),
    repo   varchar(100) NOT NULL,
    UNIQUE (repo, name)
);

CREATE TABLE commits (
    id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash    varchar(100) NOT NULL UNIQUE,
    author  varchar(100),
    message text,
    time    timestamptz,
    repo    varchar(100) NOT NULL
);

CREATE TABLE workflows (
    id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name varchar(100) NOT NULL,
    url  varchar(255) NOT NULL,
    repo varchar(100) NOT NULL,
    UNIQUE (repo, name)
);

CREATE TABLE workflowruns (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gitid        bigint NOT NULL UNIQUE,
    author       varchar(50),
    createtime   timestamptz,
    starttime    timestamptz,
    -- GitHub's updated_at: the end of the run once status is completed.
    endtime      timestamptz,
    status       varchar(50),
    conclusion   varchar(50),
    url          varchar(255),
    branchname   varchar(255),
    commithash   varchar(100),
    workflowname varchar(100),
    repo         varchar(100) NOT NULL,
    os           varchar(100),
    runtime      double precision GENERATED ALWAYS AS (
                     CASE WHEN status = 'completed'
                          THEN EXTRACT(EPOCH FROM endtime - starttime)
                     END) STORED,
    queuetime    bigint GENERATED ALWAYS AS (
                     COALESCE(EXTRACT(EPOCH FROM starttime - createtime),
                              0)::bigint) STORED
);
