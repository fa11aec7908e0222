-- Factory Twin schema 0002: twin state (Orleans grain storage).
--
-- One row per grain and state name. The primary key makes a second "first write" of the same
-- grain's state impossible: if two activations of one twin ever raced (a split brain during a
-- membership change), exactly one insert succeeds and the other gets a version conflict.

CREATE TABLE IF NOT EXISTS twin_grain_state
(
    service_id  text        NOT NULL,
    state_name  text        NOT NULL,
    grain_n0    bigint      NOT NULL,
    grain_n1    bigint      NOT NULL,
    grain_key   text        NOT NULL, -- the whole grain id, e.g. "machine/demo/cnc-1"
    payload     bytea,
    version     integer     NOT NULL,
    modified_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT twin_grain_state_one_row_per_grain PRIMARY KEY (service_id, state_name, grain_n0, grain_n1, grain_key)
);

INSERT INTO orleansquery (querykey, querytext) VALUES
-- Update when the caller read version @GrainStateVersion, insert when it read nothing; returns the
-- new version, or NULL when the version did not match (Orleans raises InconsistentStateException).
('WriteToStorageKey', $q$
    WITH updated AS (
        UPDATE twin_grain_state
        SET payload = @PayloadBinary, version = version + 1, modified_at = now()
        WHERE @GrainStateVersion::integer IS NOT NULL
          AND service_id = @ServiceId AND state_name = @GrainTypeString
          AND grain_n0 = @GrainIdN0 AND grain_n1 = @GrainIdN1
          AND grain_key = coalesce(@GrainIdExtensionString::text, '')
          AND version = @GrainStateVersion::integer
        RETURNING version),
    inserted AS (
        INSERT INTO twin_grain_state (service_id, state_name, grain_n0, grain_n1, grain_key, payload, version)
        SELECT @ServiceId, @GrainTypeString, @GrainIdN0, @GrainIdN1, coalesce(@GrainIdExtensionString::text, ''), @PayloadBinary, 1
        WHERE @GrainStateVersion::integer IS NULL
        ON CONFLICT ON CONSTRAINT twin_grain_state_one_row_per_grain DO NOTHING
        RETURNING version)
    SELECT (SELECT version FROM updated UNION ALL SELECT version FROM inserted LIMIT 1) AS NewGrainStateVersion
$q$),
('ReadFromStorageKey', $q$
    SELECT payload AS PayloadBinary, modified_at AS ModifiedOn, version AS Version
    FROM twin_grain_state
    WHERE service_id = @ServiceId AND state_name = @GrainTypeString
      AND grain_n0 = @GrainIdN0 AND grain_n1 = @GrainIdN1
      AND grain_key = coalesce(@GrainIdExtensionString::text, '')
$q$),
('ClearStorageKey', $q$
    UPDATE twin_grain_state
    SET payload = NULL, version = version + 1, modified_at = now()
    WHERE service_id = @ServiceId AND state_name = @GrainTypeString
      AND grain_n0 = @GrainIdN0 AND grain_n1 = @GrainIdN1
      AND grain_key = coalesce(@GrainIdExtensionString::text, '')
      AND version = @GrainStateVersion::integer
    RETURNING version AS NewGrainStateVersion
$q$),
('DeleteStorageKey', $q$
    DELETE FROM twin_grain_state
    WHERE service_id = @ServiceId AND state_name = @GrainTypeString
      AND grain_n0 = @GrainIdN0 AND grain_n1 = @GrainIdN1
      AND grain_key = coalesce(@GrainIdExtensionString::text, '')
      AND version = @GrainStateVersion::integer
    RETURNING version + 1 AS NewGrainStateVersion
$q$)
ON CONFLICT (querykey) DO UPDATE SET querytext = excluded.querytext;
