-- 0001_outbox: the transactional outbox (seamq.outbox_events) and its producer contract
-- seamq.enqueue(envelope jsonb). Rows follow schemas/events/messaging/outbox-event.schema.json;
-- the envelope checks mirror schemas/events/envelope-v1.schema.json. Design notes, including
-- why same-subject events commit in position order: db/migrations/README.md.
-- Applied by `sea-mq db migrate` inside a transaction: no BEGIN/COMMIT here.

CREATE SCHEMA IF NOT EXISTS seamq;

-- Positions are drawn by the insert trigger *after* it holds the ordering-key lock, never
-- by a column default (a default is evaluated before BEFORE triggers run).
-- CACHE 1 (the default) on purpose: the relay reads the last value drawn as "every position
-- up to here has been handed out" (its scan floor); a cache would hand out lower ones later.
CREATE SEQUENCE seamq.outbox_events_position_seq AS bigint CACHE 1;

-- An enum, not text with a CHECK: every CHECK constraint is planned and prepared again for
-- each INSERT statement, which producers pay once per transaction (the five this table had
-- cost seamq.enqueue ~20% of its throughput, measured with pgbench). The relay's
-- statements, the only writers of the bookkeeping columns, set them together: a published
-- row gets published_at and stream_sequence, a rejected row last_error (never dropped
-- silently); tests/relay checks the rows they leave.
CREATE TYPE seamq.outbox_status AS ENUM ('pending', 'published', 'rejected');

CREATE TABLE seamq.outbox_events (
    id              text        PRIMARY KEY,
    position        bigint      NOT NULL,
    context         text        NOT NULL,
    subject         text        NOT NULL,
    type            text        NOT NULL,
    envelope        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    status          seamq.outbox_status NOT NULL DEFAULT 'pending',
    published_at    timestamptz,
    stream_sequence bigint
);
ALTER SEQUENCE seamq.outbox_events_position_seq OWNED BY seamq.outbox_events.position;

COMMENT ON TABLE seamq.outbox_events IS
    'sea-mq transactional outbox: write with seamq.enqueue(envelope) in the transaction that changes the state; the relay publishes pending rows to JetStream in position order.';
COMMENT ON COLUMN seamq.outbox_events.position IS
    'Publication order. Rows with one (context, subject) get positions in commit order (see seamq.outbox_events_before_insert).';

-- The relay's bookkeeping finds each row by position (one probe per row). A hash index, on
-- purpose not a btree: a btree on position would offer the planner a second way to read
-- pending rows in position order, walking past every published row (70-200 ms a batch once
-- 100k rows are published, instead of ~1 ms through outbox_events_pending). Not a unique
-- constraint: positions are unique by construction (only the insert trigger sets them, from
-- the sequence), and an exclusion constraint's check cost every insert ~5% of enqueue's
-- throughput (pgbench, db/migrations/README.md).
CREATE INDEX outbox_events_position ON seamq.outbox_events USING hash (position);
-- The relay's work queue: pending rows of one context in position order. Partial, so it
-- stays small however many published rows the table keeps.
CREATE INDEX outbox_events_pending ON seamq.outbox_events (context, position) WHERE status = 'pending';
-- Retention of published rows (seamq::relay::remove_published, the worker's
-- contexts[].relay.published_retention): the oldest published rows of a context without
-- scanning the table. Costs the relay one index entry per row it marks published.
CREATE INDEX outbox_events_published ON seamq.outbox_events (context, published_at) WHERE status = 'published';
-- What operators look at: rejected rows (small, partial).
CREATE INDEX outbox_events_rejected ON seamq.outbox_events (context, position) WHERE status = 'rejected';

-- The publication log (the relay's default, RelayOptions::published_rows = log): the relay
-- deletes each row after its PubAck and records, in the same transaction, one row here per
-- recording transaction with the ids, positions and stream sequences of all the events it
-- covers. Rewriting each published row instead (published_rows = keep) writes a new
-- version of the whole wide row and new entries in every index (status is in the partial
-- indexes' predicates, so never a HOT update): measured 13 ms per 1,000 events against
-- 6 ms for delete and log, 3 ms for delete alone (db/migrations/README.md). The outbox table
-- then holds only what is not published yet; this log is what operators query (the view
-- seamq.outbox_published) and what retention trims, one row per ~batch.
CREATE TABLE seamq.outbox_publications (
    context      text        NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    positions    bigint[]    NOT NULL,
    ids          text[]      NOT NULL,
    sequences    bigint[]    NOT NULL,
    CHECK (cardinality(positions) = cardinality(ids) AND cardinality(ids) = cardinality(sequences))
);
COMMENT ON TABLE seamq.outbox_publications IS
    'sea-mq publication log: one row per relay recording transaction, the events it published (ids, positions, stream sequences); read through seamq.outbox_published.';
CREATE INDEX outbox_publications_published_at ON seamq.outbox_publications (context, published_at);

-- The subject grammar of `type`. The same pattern, character for character, as the "type"
-- property of schemas/events/envelope-v1.schema.json (the one documented place; a test
-- compares them). PostgreSQL's regular expressions support the lookaheads it uses.
CREATE FUNCTION seamq.type_pattern() RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN '^(?=.{1,128}$)(?!dlq\.)(?=[a-z0-9_-]{1,32}\.)[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*\.(?:event|command)\.(?=[a-z0-9_-]{1,64}\.v[0-9]+$)[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*\.v[1-9][0-9]{0,5}$';

-- True when `type` matches seamq.type_pattern(), decided without running that pattern:
-- PostgreSQL executes its lookaheads and bounded repetitions slowly (~0.3 ms a row, with
-- malloc/free of DFA memory), so the insert trigger checks the same grammar as one
-- lookahead-free regex plus the lengths the lookaheads bound. Equivalent because every
-- token of a matching type is free of dots: the lookaheads bound the whole string (128),
-- the context (the first token, 32, not "dlq") and the name (the third token, 64).
-- The version's {0,5} is spelled out as nested optional digits, which PostgreSQL runs faster.
-- The grammar test runs 3,000+ generated types through both and the C++ validator.
CREATE FUNCTION seamq.is_valid_type(candidate text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN length(candidate) <= 128
        AND candidate ~ '^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*\.(?:event|command)\.[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*\.v[1-9](?:[0-9](?:[0-9](?:[0-9](?:[0-9][0-9]?)?)?)?)?$'
        AND length(split_part(candidate, '.', 1)) <= 32 AND split_part(candidate, '.', 1) <> 'dlq'
        AND length(split_part(candidate, '.', 3)) <= 64;

-- The attributes the envelope schema names (its "properties"), each checked on its own;
-- every other attribute is an extension: a string, a boolean or a 32-bit integer.
CREATE FUNCTION seamq.core_attributes() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY['data', 'specversion', 'id', 'source', 'type', 'time', 'datacontenttype', 'dataschema',
                 'subject', 'data_base64', 'correlationid', 'causationid', 'traceparent', 'tracestate',
                 'visibility'];

-- The size limit in bytes: the C++ envelope::Limits default, which consumers apply to the
-- bytes the relay publishes, i.e. the stored envelope's text (envelope::text).
CREATE FUNCTION seamq.max_envelope_bytes() RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN 1048576;

-- The formats of the C++ validator (src/envelope/formats.cpp, ported from ajv-formats),
-- so that what the outbox stores every consumer accepts. Its PCRE2 patterns match
-- case-insensitively by Unicode rules; here each letter class is spelled out instead:
-- a-z as a-zA-Z plus U+017F and U+212A (long s, Kelvin sign: the only code points PCRE2
-- folds into a-z), hex digits as 0-9a-fA-F, and \d as [0-9].

-- RFC 3339 date-time: the schema's `time` pattern, then ajv-formats' ranges: a real day
-- of the month (leap years), hour 00-23, minute 00-59, second below 60, offset at most
-- 23:59; second 60 only for a leap second at 23:59 UTC (where, like ajv-formats, it
-- checks the hour and minute only through that sum). The common case (a day up to 28,
-- every field in range) is decided by comparing fixed-width digits, without a PL/pgSQL
-- call (half the cost); seamq.is_real_date_time applies the whole rule.
CREATE FUNCTION seamq.is_real_date_time(candidate text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    year integer;
    month integer;
    day integer;
    hour integer;
    minute integer;
    second numeric;
    zone_sign integer := 1;
    zone_hours integer := 0;
    zone_minutes integer := 0;
    zone_length integer := 1;
    utc_minute integer;
BEGIN
    IF candidate !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$' THEN
        RETURN false;
    END IF;
    year := substr(candidate, 1, 4)::integer;
    month := substr(candidate, 6, 2)::integer;
    day := substr(candidate, 9, 2)::integer;
    IF month < 1 OR month > 12 OR day < 1 OR day > (CASE
            WHEN month = 2 AND year % 4 = 0 AND (year % 100 <> 0 OR year % 400 = 0) THEN 29
            WHEN month = 2 THEN 28
            WHEN month IN (4, 6, 9, 11) THEN 30
            ELSE 31 END) THEN
        RETURN false;
    END IF;
    IF right(candidate, 1) NOT IN ('Z', 'z') THEN
        zone_length := 6;
        zone_sign := CASE substr(candidate, length(candidate) - 5, 1) WHEN '-' THEN -1 ELSE 1 END;
        zone_hours := substr(candidate, length(candidate) - 4, 2)::integer;
        zone_minutes := right(candidate, 2)::integer;
        IF zone_hours > 23 OR zone_minutes > 59 THEN
            RETURN false;
        END IF;
    END IF;
    hour := substr(candidate, 12, 2)::integer;
    minute := substr(candidate, 15, 2)::integer;
    second := substr(candidate, 18, length(candidate) - 17 - zone_length)::numeric;
    IF hour <= 23 AND minute <= 59 AND second < 60 THEN
        RETURN true;
    END IF;
    utc_minute := minute - zone_minutes * zone_sign;
    RETURN hour - zone_hours * zone_sign - CASE WHEN utc_minute < 0 THEN 1 ELSE 0 END IN (23, -1)
        AND utc_minute IN (59, -1) AND second < 61;
END;
$$;

-- seamq.is_real_date_time's verdict, the common case without a PL/pgSQL call.
CREATE FUNCTION seamq.is_date_time(candidate text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN candidate !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$'
            THEN false
        WHEN substr(candidate, 6, 2) COLLATE "C" BETWEEN '01' AND '12'
                AND substr(candidate, 9, 2) COLLATE "C" BETWEEN '01' AND '28'
                AND substr(candidate, 12, 2) COLLATE "C" <= '23' AND substr(candidate, 15, 2) COLLATE "C" <= '59'
                AND substr(candidate, 18, 2) COLLATE "C" <= '59'
                AND (right(candidate, 1) IN ('Z', 'z')
                     OR (substr(candidate, length(candidate) - 4, 2) COLLATE "C" <= '23'
                         AND right(candidate, 2) COLLATE "C" <= '59'))
            THEN true
        ELSE seamq.is_real_date_time(candidate)
    END;

-- RFC 3986 URI-reference (ajv-formats' "uri-reference"). The usual source, an absolute
-- path of plain characters (e.g. /sea/orders), is one its path-absolute alternative
-- matches; a simple pattern says so at a fifth of the cost. A text without '[' (no IP
-- literal) takes the pattern with the IP-literal and IPv4 alternatives left out (IPv4
-- addresses are reg-names too) and %XX spelled [0-9a-fA-F][0-9a-fA-F]: the same verdict
-- at a third of the cost, as PostgreSQL pays per match for bounded repetitions.
CREATE FUNCTION seamq.is_uri_reference(candidate text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN candidate ~ $re$^/(?:[a-zA-Z0-9._~!$&'()*+,;=:@-][a-zA-Z0-9._~!$&'()*+,;=:@/-]*)?$$re$ THEN true
        WHEN strpos(candidate, '[') = 0
        THEN candidate ~ $re$^(?:[a-zA-Z\u017f\u212a][a-zA-Z\u017f\u212a0-9+\-.]*:)?(?:\/?\/(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:]|%[0-9a-fA-F][0-9a-fA-F])*@)?(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=]|%[0-9a-fA-F][0-9a-fA-F])*)(?::[0-9]*)?(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])*)*|\/(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])+(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])*)*)?|(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])+(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])*)*)?(?:\?(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@/?]|%[0-9a-fA-F][0-9a-fA-F])*)?(?:#(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@/?]|%[0-9a-fA-F][0-9a-fA-F])*)?$$re$
        ELSE candidate ~ $re$^(?:[a-zA-Z\u017f\u212a][a-zA-Z\u017f\u212a0-9+\-.]*:)?(?:\/?\/(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:]|%[0-9a-fA-F]{2})*@)?(?:\[(?:(?:(?:(?:[0-9a-fA-F]{1,4}:){6}|::(?:[0-9a-fA-F]{1,4}:){5}|(?:[0-9a-fA-F]{1,4})?::(?:[0-9a-fA-F]{1,4}:){4}|(?:(?:[0-9a-fA-F]{1,4}:){0,1}[0-9a-fA-F]{1,4})?::(?:[0-9a-fA-F]{1,4}:){3}|(?:(?:[0-9a-fA-F]{1,4}:){0,2}[0-9a-fA-F]{1,4})?::(?:[0-9a-fA-F]{1,4}:){2}|(?:(?:[0-9a-fA-F]{1,4}:){0,3}[0-9a-fA-F]{1,4})?::[0-9a-fA-F]{1,4}:|(?:(?:[0-9a-fA-F]{1,4}:){0,4}[0-9a-fA-F]{1,4})?::)(?:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}|(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?))|(?:(?:[0-9a-fA-F]{1,4}:){0,5}[0-9a-fA-F]{1,4})?::[0-9a-fA-F]{1,4}|(?:(?:[0-9a-fA-F]{1,4}:){0,6}[0-9a-fA-F]{1,4})?::)|[Vv][0-9a-fA-F]+\.[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:]+)\]|(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)|(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=]|%[0-9a-fA-F]{2})*)(?::[0-9]*)?(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F]{2})*)*|\/(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F]{2})+(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F]{2})*)*)?|(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F]{2})+(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@]|%[0-9a-fA-F]{2})*)*)?(?:\?(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@/?]|%[0-9a-fA-F]{2})*)?(?:#(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'"()*+,;=:@/?]|%[0-9a-fA-F]{2})*)?$$re$
    END;

-- RFC 3986 absolute URI (ajv-formats' "uri"), split the same way.
CREATE FUNCTION seamq.is_uri(candidate text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN strpos(candidate, '[') = 0
        THEN candidate ~ $re$^(?:[a-zA-Z\u017f\u212a][a-zA-Z\u017f\u212a0-9+\-.]*:)(?:\/?\/(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:]|%[0-9a-fA-F][0-9a-fA-F])*@)?(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=]|%[0-9a-fA-F][0-9a-fA-F])*)(?::[0-9]*)?(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])*)*|\/(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])+(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])*)*)?|(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])+(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F][0-9a-fA-F])*)*)(?:\?(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-fA-F][0-9a-fA-F])*)?(?:#(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-fA-F][0-9a-fA-F])*)?$$re$
        ELSE candidate ~ $re$^(?:[a-zA-Z\u017f\u212a][a-zA-Z\u017f\u212a0-9+\-.]*:)(?:\/?\/(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:]|%[0-9a-fA-F]{2})*@)?(?:\[(?:(?:(?:(?:[0-9a-fA-F]{1,4}:){6}|::(?:[0-9a-fA-F]{1,4}:){5}|(?:[0-9a-fA-F]{1,4})?::(?:[0-9a-fA-F]{1,4}:){4}|(?:(?:[0-9a-fA-F]{1,4}:){0,1}[0-9a-fA-F]{1,4})?::(?:[0-9a-fA-F]{1,4}:){3}|(?:(?:[0-9a-fA-F]{1,4}:){0,2}[0-9a-fA-F]{1,4})?::(?:[0-9a-fA-F]{1,4}:){2}|(?:(?:[0-9a-fA-F]{1,4}:){0,3}[0-9a-fA-F]{1,4})?::[0-9a-fA-F]{1,4}:|(?:(?:[0-9a-fA-F]{1,4}:){0,4}[0-9a-fA-F]{1,4})?::)(?:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}|(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?))|(?:(?:[0-9a-fA-F]{1,4}:){0,5}[0-9a-fA-F]{1,4})?::[0-9a-fA-F]{1,4}|(?:(?:[0-9a-fA-F]{1,4}:){0,6}[0-9a-fA-F]{1,4})?::)|[Vv][0-9a-fA-F]+\.[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:]+)\]|(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)|(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=]|%[0-9a-fA-F]{2})*)(?::[0-9]*)?(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})*)*|\/(?:(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})*)*)?|(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+(?:\/(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})*)*)(?:\?(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-fA-F]{2})*)?(?:#(?:[a-zA-Z\u017f\u212a0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-fA-F]{2})*)?$$re$
    END;

-- W3C traceparent: the schema's pattern ^00-(?!0{32}-)[0-9a-f]{32}-(?!0{16}-)[0-9a-f]{16}-[0-9a-f]{2}$
-- without its lookaheads and bounded repetitions: three hex runs of 32, 16 and 2.
CREATE FUNCTION seamq.is_traceparent(candidate text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN length(candidate) = 55 AND candidate ~ '^00-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+$'
        AND substr(candidate, 36, 1) = '-' AND substr(candidate, 53, 1) = '-'
        AND substr(candidate, 4, 32) <> repeat('0', 32) AND substr(candidate, 37, 16) <> repeat('0', 16);

-- Raises SQLSTATE SQ001: the value of `attribute` breaks `rule` (said in the DETAIL).
CREATE FUNCTION seamq.raise_invalid_value(envelope jsonb, attribute text, rule text, hint text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RAISE EXCEPTION 'invalid envelope: attribute "%" has an invalid value: %', attribute,
            left((envelope -> attribute)::text, 100)
        USING ERRCODE = 'SQ001', DETAIL = format('event id %s; %s', coalesce(envelope ->> 'id', '(none)'), rule),
              HINT = hint;
END;
$$;

-- Raises SQLSTATE SQ001 unless envelope->attribute is a string (when required: present)
-- of min_length to max_length characters matching pattern. Returns it (NULL if absent).
CREATE FUNCTION seamq.check_string_attribute(envelope jsonb, attribute text, required boolean,
                                             pattern text, max_length integer, min_length integer DEFAULT 1)
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    value jsonb := envelope -> attribute;
    attribute_hint constant text := 'An envelope is a CloudEvents 1.0 JSON object with specversion "1.0", id, source, '
        'type, subject (the ordering key), time, datacontenttype and exactly one of data/data_base64; '
        'see schemas/events/envelope-v1.schema.json.';
BEGIN
    IF value IS NULL THEN
        IF required THEN
            RAISE EXCEPTION 'invalid envelope: required attribute "%" is missing', attribute
                USING ERRCODE = 'SQ001', DETAIL = format('event id %s', coalesce(envelope ->> 'id', '(none)')),
                      HINT = attribute_hint;
        END IF;
        RETURN NULL;
    END IF;
    IF jsonb_typeof(value) <> 'string' THEN
        RAISE EXCEPTION 'invalid envelope: attribute "%" must be a string, got %: %', attribute,
                jsonb_typeof(value), left(value::text, 100)
            USING ERRCODE = 'SQ001', DETAIL = format('event id %s', coalesce(envelope ->> 'id', '(none)')),
                  HINT = attribute_hint;
    END IF;
    IF (max_length IS NOT NULL AND length(value #>> '{}') > max_length)
            OR length(value #>> '{}') < min_length
            OR (pattern IS NOT NULL AND (value #>> '{}') !~ pattern) THEN
        RAISE EXCEPTION 'invalid envelope: attribute "%" has an invalid value: %', attribute,
                left(value::text, 100)
            USING ERRCODE = 'SQ001', DETAIL = format('event id %s; %s must match %s%s',
                      coalesce(envelope ->> 'id', '(none)'), attribute, coalesce(pattern, CASE WHEN min_length > 0 THEN '.+' ELSE '.*' END),
                      CASE WHEN max_length IS NULL THEN '' ELSE format(' and have at most %s characters', max_length) END),
                  HINT = attribute_hint;
    END IF;
    RETURN value #>> '{}';
END;
$$;

-- The optional attributes the envelope schema names, each present one against its rule.
-- (The format functions get a variable, not a call: PostgreSQL inlines a SQL function
-- only when its argument is cheap; otherwise each call costs ~5 us.)
CREATE FUNCTION seamq.check_optional_attributes(envelope jsonb) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    checked text;
BEGIN
    IF envelope ? 'dataschema' THEN
        checked := seamq.check_string_attribute(envelope, 'dataschema', false, NULL, 1024);
        IF NOT seamq.is_uri(checked) THEN
            PERFORM seamq.raise_invalid_value(envelope, 'dataschema', 'dataschema must be an absolute URI (RFC 3986)',
                'dataschema names the schema of data by an absolute URI with a scheme, e.g. '
                'https://sea.example/schemas/order-placed-v1.json; percent-encode other characters (%20).');
        END IF;
    END IF;
    -- Bounded repetitions as max_length, as for id.
    IF envelope ? 'correlationid' THEN
        PERFORM seamq.check_string_attribute(envelope, 'correlationid', false, '^[!-~]+$', 200);
    END IF;
    IF envelope ? 'causationid' THEN
        PERFORM seamq.check_string_attribute(envelope, 'causationid', false, '^[!-~]+$', 200);
    END IF;
    IF envelope ? 'traceparent' THEN
        checked := seamq.check_string_attribute(envelope, 'traceparent', false, NULL, NULL);
        IF NOT seamq.is_traceparent(checked) THEN
            PERFORM seamq.raise_invalid_value(envelope, 'traceparent',
                'traceparent must match ^00-(?!0{32}-)[0-9a-f]{32}-(?!0{16}-)[0-9a-f]{16}-[0-9a-f]{2}$',
                'W3C Trace Context: 00-{32 hex trace id}-{16 hex parent id}-{2 hex flags}, lowercase, ids not '
                'all zeros, e.g. 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.');
        END IF;
    END IF;
    IF envelope ? 'tracestate' THEN
        PERFORM seamq.check_string_attribute(envelope, 'tracestate', false, '^[ -~]+$', 512);
    END IF;
    IF envelope ? 'visibility' THEN
        checked := seamq.check_string_attribute(envelope, 'visibility', false, NULL, NULL);
        IF checked NOT IN ('internal', 'external') THEN
            PERFORM seamq.raise_invalid_value(envelope, 'visibility', 'visibility must be "internal" or "external"',
                'internal events stay in their bounded context; external ones may leave it.');
        END IF;
    END IF;
END;
$$;


-- True only for an envelope every check of the insert trigger passes: the common shape
-- (the attributes producers usually send, no extensions, data as JSON, the usual media
-- type, a plain absolute path as source, a time whose fields are plainly in range). One
-- SQL expression, inlined into the trigger: the checks one by one cost a PL/pgSQL call
-- each (~40 us a row together, measured). False says nothing: the trigger then runs every
-- check, which raises the precise error or passes. So the verdict is the checks' by
-- construction; the numbers and the size are checked for every envelope after it.
CREATE FUNCTION seamq.is_plain_valid_envelope(envelope jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (envelope - ARRAY['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'data'])
               = '{}'::jsonb
        AND envelope ? 'data'
        AND envelope -> 'specversion' = '"1.0"'::jsonb
        AND envelope -> 'datacontenttype' = '"application/json"'::jsonb
        AND jsonb_typeof(envelope -> 'id') = 'string'
        AND length(envelope ->> 'id') <= 200 AND (envelope ->> 'id') ~ '^[!-~]+$'
        AND jsonb_typeof(envelope -> 'subject') = 'string'
        AND length(envelope ->> 'subject') BETWEEN 1 AND 1024
        -- No type test for source, type and time: the text of a number, boolean, object or
        -- array never matches their patterns (it cannot start with "/", has no "." between
        -- letters, no "-" after four digits).
        AND length(envelope ->> 'source') <= 1024
        AND (envelope ->> 'source') ~ $re$^/(?:[a-zA-Z0-9._~!$&'()*+,;=:@-][a-zA-Z0-9._~!$&'()*+,;=:@/-]*)?$$re$
        AND seamq.is_valid_type(envelope ->> 'type')
        -- One pattern holds the plainly valid ranges of the fields (month 01-12, day 01-28,
        -- hour 00-23, minute and second 00-59): cheaper than a pattern and five substrings.
        AND length(envelope ->> 'time') <= 30
        AND (envelope ->> 'time') ~ '^[0-9][0-9][0-9][0-9]-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?[Zz]$';


-- Numbers a double cannot hold: numeric keeps them, consumers' JSON parsers cannot (they
-- read IEEE 754 doubles). The bound is DBL_MAX, (2 - 2^-52) * 2^1023, in full; numbers
-- that merely underflow to 0 are fine. Inlined, so the path is parsed once per plan.
CREATE FUNCTION seamq.beyond_double() RETURNS jsonpath
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN 'strict $.** ? (@.type() == "number" && (@ > 179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368 || @ < -179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368))'::jsonpath;

-- Every check of an envelope, one by one: raises the precise error (SQLSTATE SQ001-SQ004)
-- or returns the envelope completed with the attributes producers may leave out. The
-- insert trigger calls it only for an envelope its fast path cannot vouch for.
CREATE FUNCTION seamq.checked_envelope(envelope jsonb) RETURNS jsonb
    LANGUAGE plpgsql
AS $$
DECLARE
    event_id text;
    event_type text;
    attribute text;
    value jsonb;
    extensions jsonb;
    checked text;
    too_large jsonb;
    envelope_bytes integer;
BEGIN
    IF envelope IS NULL OR jsonb_typeof(envelope) <> 'object' THEN
        RAISE EXCEPTION 'invalid envelope: expected a JSON object, got %', coalesce(jsonb_typeof(envelope), 'NULL')
            USING ERRCODE = 'SQ001', HINT = 'Pass the whole CloudEvents envelope as one jsonb object.';
    END IF;
    -- Producers in any language may leave these two out; the stored envelope is complete.
    -- (Filled first: adding an attribute that was absent changes no check's verdict.)
    IF NOT envelope ? 'time' THEN
        envelope := envelope || jsonb_build_object('time',
            to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
    END IF;
    IF NOT envelope ? 'datacontenttype' AND envelope ? 'data' THEN
        envelope := envelope || jsonb_build_object('datacontenttype', 'application/json');
    END IF;
    IF seamq.is_plain_valid_envelope(envelope) THEN
        event_id := envelope ->> 'id';
    ELSE
        PERFORM seamq.check_string_attribute(envelope, 'specversion', true, '^1\.0$', NULL);
        -- Length bounds go to max_length, never into a pattern: PostgreSQL runs a bounded
        -- repetition like {1,200} about 100 times slower than + (measured: 0.24 ms per id).
        event_id := seamq.check_string_attribute(envelope, 'id', true, '^[!-~]+$', 200);
        -- A variable as the format function's argument, as in seamq.check_optional_attributes.
        checked := seamq.check_string_attribute(envelope, 'source', true, NULL, 1024);
        IF NOT seamq.is_uri_reference(checked) THEN
            PERFORM seamq.raise_invalid_value(envelope, 'source', 'source must be a URI-reference (RFC 3986)',
                'source names the producer by a URI-reference, e.g. /sea/orders or https://sea.example/orders; '
                'percent-encode spaces and other characters RFC 3986 does not allow (%20).');
        END IF;
        PERFORM seamq.check_string_attribute(envelope, 'subject', true, NULL, 1024);
        event_type := seamq.check_string_attribute(envelope, 'type', true, NULL, NULL);
        IF NOT seamq.is_valid_type(event_type) THEN
            RAISE EXCEPTION 'invalid envelope: type "%" is not {context}.event.{name}.v{n} or {context}.command.{name}.v{n}',
                    left(event_type, 200)
                USING ERRCODE = 'SQ002',
                      DETAIL = format('event id %s; type must match %s', event_id, seamq.type_pattern()),
                      HINT = 'context and name: a lowercase letter, then lowercase letters and digits, words joined '
                             'by single "-" or "_"; context at most 32 characters and not "dlq", name at most 64; '
                             'n from 1 to 999999 without leading zeros; e.g. sea.event.order-placed.v1.';
        END IF;
        IF envelope ? 'data' AND envelope ? 'data_base64' THEN
            RAISE EXCEPTION 'invalid envelope: both "data" and "data_base64" are present'
                USING ERRCODE = 'SQ003', DETAIL = format('event id %s', event_id),
                      HINT = 'Send a JSON payload in data, or binary bytes base64-encoded in data_base64, not both.';
        END IF;
        IF NOT (envelope ? 'data' OR envelope ? 'data_base64') THEN
            RAISE EXCEPTION 'invalid envelope: neither "data" nor "data_base64" is present'
                USING ERRCODE = 'SQ003', DETAIL = format('event id %s', event_id),
                      HINT = 'Every event carries a payload: data (JSON, may be {}) or data_base64 (binary).';
        END IF;
        IF envelope ? 'data_base64' THEN
            PERFORM seamq.check_string_attribute(envelope, 'data_base64', false,
                '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$', NULL, 0);
        END IF;
        checked := seamq.check_string_attribute(envelope, 'time', true, NULL, NULL);
        IF NOT seamq.is_date_time(checked) THEN
            PERFORM seamq.raise_invalid_value(envelope, 'time',
                'time must match ^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$ '
                'and be a real date-time',
                'RFC 3339 with a time zone, e.g. 2024-05-01T12:00:00.123456Z: a real day of the month, hour 00-23, '
                'minute and second 00-59 (second 60 only at 23:59 UTC, a leap second), offset at most +/-23:59.');
        END IF;
        -- The common media type skips the (bounded-repetition, hence slow) pattern it matches.
        IF envelope -> 'datacontenttype' IS DISTINCT FROM '"application/json"'::jsonb THEN
            PERFORM seamq.check_string_attribute(envelope, 'datacontenttype', true,
                '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}(?:;[ -~]{0,200})?$', NULL);
        END IF;
        IF envelope ?| ARRAY['dataschema', 'correlationid', 'causationid', 'traceparent', 'tracestate', 'visibility'] THEN
            PERFORM seamq.check_optional_attributes(envelope);
        END IF;
        -- Names and values of the extension attributes (the core ones pass both checks by
        -- definition); the query runs only when there are some.
        extensions := envelope - seamq.core_attributes();
        IF extensions <> '{}'::jsonb THEN
            FOR attribute, value IN SELECT key, v FROM jsonb_each(extensions) AS e(key, v) LOOP
                IF attribute !~ '^(?:[a-z0-9]{1,20}|data_base64)$' THEN
                    RAISE EXCEPTION 'invalid envelope: attribute name "%" is not allowed', left(attribute, 100)
                        USING ERRCODE = 'SQ001', DETAIL = format('event id %s', event_id),
                              HINT = 'CloudEvents attribute names are lowercase ASCII letters and digits, at most 20 characters.';
                END IF;
                -- An integer is written without a fraction: consumers' JSON parsers read 1.0
                -- (as the stored text writes it) as a double, which is not an integer.
                IF NOT (jsonb_typeof(value) IN ('string', 'boolean')
                            OR (jsonb_typeof(value) = 'number' AND scale(value::numeric) = 0
                                AND value::numeric BETWEEN -2147483648 AND 2147483647)) THEN
                    RAISE EXCEPTION 'invalid envelope: extension attribute "%" must be a string, a boolean or a 32-bit integer, got %',
                            attribute, left(value::text, 100)
                        USING ERRCODE = 'SQ001', DETAIL = format('event id %s', event_id),
                              HINT = 'Extension attribute values are strings, true/false or integers from -2147483648 '
                                     'to 2147483647 written without a fraction or exponent; send anything else in data.';
                END IF;
            END LOOP;
        END IF;
    END IF;  -- the checks of an envelope is_plain_valid_envelope cannot vouch for
    -- Numbers a double cannot hold (seamq.beyond_double).
    too_large := jsonb_path_query_first(envelope, seamq.beyond_double());
    IF too_large IS NOT NULL THEN
        RAISE EXCEPTION 'invalid envelope: the number %... (% characters) is beyond the range of a double',
                left(too_large::text, 20), length(too_large::text)
            USING ERRCODE = 'SQ001', DETAIL = format('event id %s; JSON numbers may be at most 1.7976931348623157e308 '
                      'in magnitude', event_id),
                  HINT = 'Consumers read JSON numbers as IEEE 754 doubles; send larger values as strings.';
    END IF;
    -- The size limit, on the text the relay publishes (jsonb's text form: ", " and ": "
    -- between members, so a little longer than a compact dump).
    envelope_bytes := octet_length(envelope::text);
    IF envelope_bytes > seamq.max_envelope_bytes() THEN
        RAISE EXCEPTION 'invalid envelope: it is % bytes as stored, more than the limit of % bytes',
                envelope_bytes, seamq.max_envelope_bytes()
            USING ERRCODE = 'SQ004', DETAIL = format('event id %s; measured on envelope::text, the bytes the relay '
                      'publishes and consumers check', event_id),
                  HINT = 'Keep envelopes small: send large payloads by reference (e.g. an object-store URL in data).';
    END IF;

    RETURN envelope;
END;
$$;

-- Validates and completes an outbox row from its envelope, whichever way the row arrives
-- (seamq.enqueue, a multi-row INSERT, COPY). Every column but the relay's bookkeeping is
-- derived from the envelope, so they can never disagree with it.
-- Few statements on purpose: PL/pgSQL prepares each expression again in every transaction,
-- and producers write one event per transaction, so each statement here costs every event
-- its preparation (db/migrations/README.md, "cost").
CREATE FUNCTION seamq.outbox_events_before_insert() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    envelope jsonb := NEW.envelope;
    locked boolean;
BEGIN
    -- The common case in one expression: the plain shape every check passes, no number
    -- beyond a double, within the size limit. Anything else goes through the checks one by
    -- one, which raise the precise error or complete the envelope.
    IF (CASE WHEN jsonb_typeof(envelope) = 'object'
             THEN seamq.is_plain_valid_envelope(envelope)
                  AND NOT jsonb_path_exists(envelope, seamq.beyond_double())
                  AND octet_length(envelope::text) <= seamq.max_envelope_bytes()
             END) IS NOT TRUE THEN
        envelope := seamq.checked_envelope(envelope);
        NEW.envelope := envelope;
    END IF;
    NEW.id := envelope ->> 'id';
    NEW.type := envelope ->> 'type';
    NEW.context := split_part(envelope ->> 'type', '.', 1);
    NEW.subject := envelope ->> 'subject';
    -- The relay's bookkeeping starts from the column defaults; a caller's values are
    -- replaced. Tested as one condition: each assignment to NEW costs a microsecond or two.
    IF (NEW.status, NEW.attempts, NEW.last_error, NEW.published_at, NEW.stream_sequence, NEW.created_at)
            IS DISTINCT FROM ('pending'::seamq.outbox_status, 0, NULL::text, NULL::timestamptz, NULL::bigint, now()) THEN
        NEW.status := 'pending';
        NEW.attempts := 0;
        NEW.last_error := NULL;
        NEW.published_at := NULL;
        NEW.stream_sequence := NULL;
        NEW.created_at := now();
    END IF;
    -- Per-ordering-key commit order: hold a transaction-scoped lock on (context, subject)
    -- *before* drawing the position. A second transaction writing the same key waits here
    -- until the first commits or rolls back, so for one key, position order = commit order,
    -- and the relay, reading committed pending rows by position, sees each key's rows as
    -- a gap-free prefix. Lock space 24225 (0x5EA1): see db/migrations/README.md.
    -- The transaction id too, before the position (a transaction otherwise gets one only
    -- when the row is written, after this trigger): the relay's scan floor relies on every
    -- transaction holding a position having an id (src/relay/relay.cpp, advance_floor).
    -- An assignment, not PERFORM, which would run a query for it.
    locked := pg_advisory_xact_lock(24225, hashtext(NEW.context || '/' || NEW.subject)) IS NOT NULL
              AND pg_current_xact_id() IS NOT NULL;
    NEW.position := nextval('seamq.outbox_events_position_seq');
    -- Wakes the relay of this context at commit (a rolled-back transaction notifies
    -- nobody; repeats within one transaction are folded into one notification), unless
    -- the relay is awake and bound to see this row anyway. Skipping matters: a
    -- transaction that notifies holds a database-wide lock through its commit's WAL
    -- flush, so notifying transactions commit one at a time (~1 per fsync, a few hundred
    -- per second). Protocol, lock spaces and the race it closes: db/migrations/README.md.
    -- `seamq.notify = off` (set by producers whose transaction ends in PREPARE
    -- TRANSACTION, which PostgreSQL refuses after a NOTIFY) skips all of it: no NOTIFY and
    -- no gate lock, which a prepared transaction would hold until COMMIT PREPARED and keep
    -- the relay from sleeping. The relay finds such rows by its poll_interval fallback.
    IF lower(current_setting('seamq.notify', true)) IN ('off', 'false') THEN
        RETURN NEW;
    END IF;
    IF NOT pg_try_advisory_xact_lock_shared(24228, hashtext(NEW.context)) THEN
        PERFORM pg_notify('seamq_outbox', NEW.context);  -- the relay is about to sleep
    ELSIF pg_try_advisory_lock_shared(24227, hashtext(NEW.context)) THEN
        -- No relay is awake. Released at once: held until commit, it would keep a relay
        -- from ever waking up while producers keep committing.
        PERFORM pg_advisory_unlock_shared(24227, hashtext(NEW.context));
        PERFORM pg_notify('seamq_outbox', NEW.context);
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER outbox_events_before_insert
    BEFORE INSERT ON seamq.outbox_events
    FOR EACH ROW EXECUTE FUNCTION seamq.outbox_events_before_insert();

-- The producer contract for any language: call inside the transaction that changes the
-- state; returns the event id. A duplicate id raises unique_violation (23505) from the
-- primary key: "duplicate key value violates unique constraint outbox_events_pkey", detail
-- "Key (id)=(...) already exists". A plain INSERT on purpose: ON CONFLICT DO NOTHING (to
-- raise a message of our own) made every enqueue pay a speculative insertion, ~10% of its
-- server time (db/migrations/README.md, "cost"). The trigger derives every other column.
CREATE FUNCTION seamq.enqueue(envelope jsonb) RETURNS text
    LANGUAGE plpgsql
AS $$
DECLARE
    event_id text;
BEGIN
    INSERT INTO seamq.outbox_events (envelope) VALUES (envelope) RETURNING id INTO event_id;
    RETURN event_id;
END;
$$;

-- Many events in one call, in array order. Takes the ordering-key locks in a fixed order
-- first, so two batches sharing keys cannot deadlock on each other. One INSERT for the
-- whole batch (the trigger draws positions in array order): a statement per event would
-- pay executor start-up and CHECK-constraint set-up each time.
CREATE FUNCTION seamq.enqueue_many(envelopes jsonb[]) RETURNS text[]
    LANGUAGE plpgsql
AS $$
DECLARE
    ids text[];
    duplicate jsonb;
BEGIN
    PERFORM pg_advisory_xact_lock(24225, key)
    FROM (SELECT DISTINCT hashtext(split_part(e ->> 'type', '.', 1) || '/' || (e ->> 'subject')) AS key
          FROM unnest(envelopes) AS u(e)
          WHERE jsonb_typeof(e) = 'object' AND e ? 'type' AND e ? 'subject') AS keys
    ORDER BY key;
    WITH inserted AS (
        INSERT INTO seamq.outbox_events (envelope)
        SELECT e FROM unnest(envelopes) WITH ORDINALITY AS u(e, n) ORDER BY n
        ON CONFLICT (id) DO NOTHING
        RETURNING id, position)
    SELECT coalesce(array_agg(id ORDER BY position), ARRAY[]::text[]) INTO ids FROM inserted;
    IF cardinality(ids) < coalesce(cardinality(envelopes), 0) THEN
        -- The first envelope, in array order, that was not inserted: its id was in the
        -- outbox already, or earlier in this batch.
        SELECT e INTO duplicate
        FROM unnest(envelopes) WITH ORDINALITY AS u(e, n)
        WHERE NOT (e ->> 'id' = ANY (ids))
           OR EXISTS (SELECT FROM unnest(envelopes) WITH ORDINALITY AS earlier(f, m)
                      WHERE m < n AND f ->> 'id' = e ->> 'id')
        ORDER BY n
        LIMIT 1;
        RAISE EXCEPTION 'event id "%" is already in the outbox', duplicate ->> 'id'
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('type %s, subject %s', duplicate ->> 'type', duplicate ->> 'subject'),
                  HINT = 'Every event needs its own id (a new UUID). If this retries a transaction that '
                         'committed, the event is already queued.';
    END IF;
    RETURN ids;
END;
$$;

-- For operators: events the relay could not publish for good, with the reason.
CREATE VIEW seamq.outbox_rejected AS
SELECT position, id, context, subject, type, attempts, last_error, created_at
FROM seamq.outbox_events
WHERE status = 'rejected';

-- For operators: every published event still on record, whichever way the relay recorded
-- it: a row kept with status published (published_rows = keep) or an entry of the
-- publication log (the default). Scans; not for hot paths.
CREATE VIEW seamq.outbox_published AS
SELECT context, position, id, stream_sequence, published_at
FROM seamq.outbox_events
WHERE status = 'published'
UNION ALL
SELECT p.context, e.position, e.id, e.sequence, p.published_at
FROM seamq.outbox_publications AS p,
     unnest(p.positions, p.ids, p.sequences) AS e(position, id, sequence);

-- For operators: backlog per context (scans the tables; not for hot paths). `published`
-- counts what is on record (see seamq.outbox_published).
CREATE VIEW seamq.outbox_backlog AS
SELECT context,
       sum(pending)::bigint AS pending,
       sum(rejected)::bigint AS rejected,
       sum(published)::bigint AS published,
       min(oldest_pending_at) AS oldest_pending_at
FROM (SELECT context,
             count(*) FILTER (WHERE status = 'pending') AS pending,
             count(*) FILTER (WHERE status = 'rejected') AS rejected,
             count(*) FILTER (WHERE status = 'published') AS published,
             min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending_at
      FROM seamq.outbox_events
      GROUP BY context
      UNION ALL
      SELECT context, 0, 0, sum(cardinality(ids)), NULL
      FROM seamq.outbox_publications
      GROUP BY context) AS counts
GROUP BY context;
