namespace Tivo.Silo.Hosting;

/// <summary>
/// Creates what <c>Microsoft.Orleans.Clustering.AdoNet</c> needs on PostgreSQL (its package does not ship setup
/// scripts): Tivo's own implementation of the provider's statements over a membership version row per cluster and
/// one row per silo incarnation. Every change to membership bumps the version row in the same transaction, only from
/// the version the silo read (Orleans' optimistic protocol); a statement that loses the race returns 0 rows changed.
/// Idempotent, applied under an advisory lock, so silos starting together is safe. Gateways only read it.
/// </summary>
public static class OrleansPostgreSqlClustering
{
    // The provider's contract: statements under these keys, taking @DeploymentId, @Address, @Port, @Generation,
    // @SiloName, @HostName, @Status, @ProxyPort, @SuspectTimes, @StartTime, @IAmAliveTime and @Version; membership
    // reads return (deploymentid, address, port, generation, siloname, hostname, status, proxyport, suspecttimes,
    // starttime, iamalivetime, version) with the version row present even when no silo row matches.
    private const string Sql = """
        SELECT pg_advisory_xact_lock(7242002);

        CREATE TABLE IF NOT EXISTS orleansquery (
            querykey  varchar(64) PRIMARY KEY,
            querytext text NOT NULL
        );

        CREATE TABLE IF NOT EXISTS tivo_membership_version (
            deploymentid varchar(150) PRIMARY KEY,
            changedat    timestamptz(3) NOT NULL DEFAULT now(),
            version      integer NOT NULL DEFAULT 0
        );

        CREATE TABLE IF NOT EXISTS tivo_membership (
            deploymentid varchar(150) NOT NULL REFERENCES tivo_membership_version (deploymentid) ON DELETE CASCADE,
            address      varchar(45) NOT NULL,
            port         integer NOT NULL,
            generation   integer NOT NULL,
            siloname     varchar(150) NOT NULL,
            hostname     varchar(150) NOT NULL,
            status       integer NOT NULL,
            proxyport    integer,
            suspecttimes varchar(8000),
            starttime    timestamptz(3) NOT NULL,
            iamalivetime timestamptz(3) NOT NULL,
            PRIMARY KEY (deploymentid, address, port, generation)
        );

        -- Bumps the cluster's version from the one read; true when this writer won.
        CREATE OR REPLACE FUNCTION tivo_membership_bump(_deploymentid varchar, _version integer) RETURNS boolean
        LANGUAGE sql AS $$
            WITH bumped AS (
                UPDATE tivo_membership_version SET version = version + 1, changedat = now()
                WHERE deploymentid = _deploymentid AND version = _version
                RETURNING 1)
            SELECT EXISTS (SELECT 1 FROM bumped);
        $$;

        CREATE OR REPLACE FUNCTION tivo_membership_insert(
            _deploymentid varchar, _address varchar, _port integer, _generation integer, _siloname varchar, _hostname varchar,
            _status integer, _proxyport integer, _starttime timestamptz, _iamalivetime timestamptz, _version integer)
        RETURNS TABLE (row_count integer) LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO tivo_membership (deploymentid, address, port, generation, siloname, hostname, status, proxyport, starttime, iamalivetime)
            VALUES (_deploymentid, _address, _port, _generation, _siloname, _hostname, _status, _proxyport, _starttime, _iamalivetime)
            ON CONFLICT DO NOTHING;
            IF NOT FOUND OR NOT tivo_membership_bump(_deploymentid, _version) THEN
                RAISE SQLSTATE 'T0001'; -- lost the race (or the row exists): the block's insert is rolled back
            END IF;
            RETURN QUERY SELECT 1;
        EXCEPTION WHEN SQLSTATE 'T0001' THEN
            RETURN QUERY SELECT 0;
        END
        $$;

        CREATE OR REPLACE FUNCTION tivo_membership_update(
            _deploymentid varchar, _address varchar, _port integer, _generation integer, _status integer,
            _suspecttimes varchar, _iamalivetime timestamptz, _version integer)
        RETURNS TABLE (row_count integer) LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT tivo_membership_bump(_deploymentid, _version) THEN
                RETURN QUERY SELECT 0;
                RETURN;
            END IF;
            UPDATE tivo_membership SET status = _status, suspecttimes = _suspecttimes, iamalivetime = _iamalivetime
            WHERE deploymentid = _deploymentid AND address = _address AND port = _port AND generation = _generation;
            IF NOT FOUND THEN
                RAISE SQLSTATE 'T0001';
            END IF;
            RETURN QUERY SELECT 1;
        EXCEPTION WHEN SQLSTATE 'T0001' THEN
            RETURN QUERY SELECT 0;
        END
        $$;

        INSERT INTO orleansquery (querykey, querytext) VALUES
        ('InsertMembershipVersionKey',
         'WITH inserted AS (INSERT INTO tivo_membership_version (deploymentid) VALUES (@DeploymentId) ON CONFLICT DO NOTHING RETURNING 1)
          SELECT count(*)::integer FROM inserted'),
        ('InsertMembershipKey',
         'SELECT * FROM tivo_membership_insert(@DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName, @Status, @ProxyPort, @StartTime, @IAmAliveTime, @Version)'),
        ('UpdateMembershipKey',
         'SELECT * FROM tivo_membership_update(@DeploymentId, @Address, @Port, @Generation, @Status, @SuspectTimes, @IAmAliveTime, @Version)'),
        ('UpdateIAmAlivetimeKey',
         'UPDATE tivo_membership SET iamalivetime = @IAmAliveTime
          WHERE deploymentid = @DeploymentId AND address = @Address AND port = @Port AND generation = @Generation'),
        ('MembershipReadRowKey',
         'SELECT v.deploymentid, m.address, m.port, m.generation, m.siloname, m.hostname, m.status, m.proxyport,
                 m.suspecttimes, m.starttime, m.iamalivetime, v.version
          FROM tivo_membership_version v
          LEFT JOIN tivo_membership m ON m.deploymentid = v.deploymentid
               AND m.address = @Address AND m.port = @Port AND m.generation = @Generation
          WHERE v.deploymentid = @DeploymentId'),
        ('MembershipReadAllKey',
         'SELECT v.deploymentid, m.address, m.port, m.generation, m.siloname, m.hostname, m.status, m.proxyport,
                 m.suspecttimes, m.starttime, m.iamalivetime, v.version
          FROM tivo_membership_version v
          LEFT JOIN tivo_membership m ON m.deploymentid = v.deploymentid
          WHERE v.deploymentid = @DeploymentId'),
        ('DeleteMembershipTableEntriesKey',
         'DELETE FROM tivo_membership_version WHERE deploymentid = @DeploymentId'),
        ('GatewaysQueryKey',
         'SELECT address, proxyport, generation FROM tivo_membership
          WHERE deploymentid = @DeploymentId AND status = @Status AND proxyport > 0'),
        ('CleanupDefunctSiloEntriesKey',
         'DELETE FROM tivo_membership
          WHERE deploymentid = @DeploymentId AND iamalivetime < @IAmAliveTime AND status <> 3')
        ON CONFLICT (querykey) DO UPDATE SET querytext = excluded.querytext;
        """;

    /// <summary>Applies the schema to the database of <paramref name="connectionString"/>.</summary>
    public static Task ApplyAsync(string connectionString, CancellationToken cancellationToken) =>
        OrleansPostgreSqlSchema.RunAsync(connectionString, Sql, cancellationToken);
}
