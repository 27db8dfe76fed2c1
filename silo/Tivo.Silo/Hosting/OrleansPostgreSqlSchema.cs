using Npgsql;

namespace Tivo.Silo.Hosting;

/// <summary>
/// Creates what <c>Microsoft.Orleans.Persistence.AdoNet</c> needs on PostgreSQL (the provider's
/// packages do not ship their setup scripts): the <c>orleansquery</c> table the provider reads its
/// statements from, and Tivo's own implementation of those statements over one <c>orleansstorage</c>
/// table with optimistic versioning. Idempotent; runs in well under a second.
/// </summary>
public static class OrleansPostgreSqlSchema
{
    // The provider's contract: statements under these keys, taking @GrainIdHash, @GrainIdN0, @GrainIdN1,
    // @GrainTypeHash, @GrainTypeString, @GrainIdExtensionString, @ServiceId, @GrainStateVersion and the
    // payload parameters; a write returns the new version (the old one when the write lost a race).
    private const string Sql = """
        -- Several silos may start at once: one applies the schema, the others wait and find it done.
        SELECT pg_advisory_xact_lock(7242001);

        CREATE TABLE IF NOT EXISTS orleansquery (
            querykey  varchar(64) PRIMARY KEY,
            querytext text NOT NULL
        );

        CREATE TABLE IF NOT EXISTS orleansstorage (
            serviceid              varchar(150) NOT NULL,
            graintypestring        varchar(512) NOT NULL,
            grainidhash            integer NOT NULL,
            grainidn0              bigint NOT NULL,
            grainidn1              bigint NOT NULL,
            graintypehash          integer NOT NULL,
            grainidextensionstring varchar(512) NOT NULL DEFAULT '',
            payloadbinary          bytea,
            payloadjson            text,
            payloadxml             xml,
            modifiedon             timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
            version                integer NOT NULL,
            PRIMARY KEY (serviceid, graintypehash, grainidhash, grainidn0, grainidn1, graintypestring, grainidextensionstring)
        );

        CREATE OR REPLACE FUNCTION tivo_orleans_write(
            _serviceid varchar, _graintypestring varchar, _grainidhash integer, _grainidn0 bigint, _grainidn1 bigint,
            _graintypehash integer, _ext varchar, _version integer, _binary bytea, _json text, _xml xml)
        RETURNS TABLE (newgrainstateversion integer) LANGUAGE plpgsql AS $$
        DECLARE
            _key varchar := coalesce(_ext, '');
            _new integer;
        BEGIN
            IF _version IS NULL THEN
                -- First write: only one writer may create the row.
                INSERT INTO orleansstorage AS s (serviceid, graintypestring, grainidhash, grainidn0, grainidn1, graintypehash,
                                                 grainidextensionstring, payloadbinary, payloadjson, payloadxml, version)
                VALUES (_serviceid, _graintypestring, _grainidhash, _grainidn0, _grainidn1, _graintypehash, _key, _binary, _json, _xml, 1)
                ON CONFLICT DO NOTHING
                RETURNING s.version INTO _new;
            ELSE
                -- Later writes: only from the version that was read (optimistic concurrency).
                UPDATE orleansstorage AS s
                SET payloadbinary = _binary, payloadjson = _json, payloadxml = _xml,
                    modifiedon = now() AT TIME ZONE 'utc', version = s.version + 1
                WHERE s.serviceid = _serviceid AND s.graintypehash = _graintypehash AND s.grainidhash = _grainidhash
                  AND s.grainidn0 = _grainidn0 AND s.grainidn1 = _grainidn1 AND s.graintypestring = _graintypestring
                  AND s.grainidextensionstring = _key AND s.version = _version
                RETURNING s.version INTO _new;
            END IF;
            RETURN QUERY SELECT coalesce(_new, _version);
        END
        $$;

        INSERT INTO orleansquery (querykey, querytext) VALUES
        ('WriteToStorageKey',
         'SELECT * FROM tivo_orleans_write(@ServiceId, @GrainTypeString, @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainIdExtensionString, @GrainStateVersion, @PayloadBinary, NULL, NULL)'),
        ('ReadFromStorageKey',
         'SELECT payloadbinary, payloadxml, payloadjson, (now() AT TIME ZONE ''utc''), version FROM orleansstorage
          WHERE serviceid = @ServiceId AND graintypehash = @GrainTypeHash AND grainidhash = @GrainIdHash
            AND grainidn0 = @GrainIdN0 AND grainidn1 = @GrainIdN1 AND graintypestring = @GrainTypeString
            AND grainidextensionstring = coalesce(@GrainIdExtensionString, '''')'),
        ('ClearStorageKey',
         'UPDATE orleansstorage SET payloadbinary = NULL, payloadjson = NULL, payloadxml = NULL, version = version + 1
          WHERE serviceid = @ServiceId AND graintypehash = @GrainTypeHash AND grainidhash = @GrainIdHash
            AND grainidn0 = @GrainIdN0 AND grainidn1 = @GrainIdN1 AND graintypestring = @GrainTypeString
            AND grainidextensionstring = coalesce(@GrainIdExtensionString, '''') AND version = @GrainStateVersion
          RETURNING version AS newgrainstateversion')
        ON CONFLICT (querykey) DO UPDATE SET querytext = excluded.querytext;
        """;

    /// <summary>Applies the schema to the database of <paramref name="connectionString"/>.</summary>
    public static Task ApplyAsync(string connectionString, CancellationToken cancellationToken) => RunAsync(connectionString, Sql, cancellationToken);

    /// <summary>Runs a setup script in one transaction.</summary>
    internal static async Task RunAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }
}
