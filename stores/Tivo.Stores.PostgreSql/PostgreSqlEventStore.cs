using Tivo.Events;
using System.Data;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Tivo.Stores.PostgreSql;

/// <summary>The SQL dialect a <see cref="PostgreSqlEventStore"/> speaks.</summary>
public enum SqlDialect
{
    /// <summary>PostgreSQL 12 or later.</summary>
    PostgreSql,

    /// <summary>Amazon Redshift over the PostgreSQL wire protocol: no jsonb, no unnest, no ON CONFLICT, no COPY FROM STDIN.</summary>
    Redshift,
}

/// <summary>
/// Reads events from PostgreSQL or Redshift tables through one <see cref="NpgsqlDataSource"/>.
/// Identifiers come from validated configuration and are always quoted; channel names and times are
/// always parameters. Rows stream from the server as the reader advances, never loaded whole.
/// </summary>
public sealed partial class PostgreSqlEventStore : IEventStore, IAsyncDisposable
{
    private const string ExtentsTable = "tivo_channels";
    private readonly NpgsqlDataSource _dataSource;
    private NpgsqlDataSource? _ownedDataSource;
    private readonly SqlDialect _dialect;
    private readonly ILogger _logger;
    private readonly Source _primary;
    private readonly Dictionary<string, Source> _fixed;
    private readonly bool _useExtentsTable;
    private readonly PostgreSqlStoreOptions _options;
    private readonly Dictionary<Source, string> _payloadCasts = new();
    private readonly Lock _lock = new();

    public PostgreSqlEventStore(NpgsqlDataSource dataSource, PostgreSqlStoreOptions options, SqlDialect dialect, ILogger<PostgreSqlEventStore> logger)
    {
        _dataSource = dataSource;
        _dialect = dialect;
        _logger = logger;
        _options = options;
        _primary = new Source(
            string.IsNullOrEmpty(options.ChannelColumn) ? options.Channel ?? options.Table : null,
            options.Table, options.TimeColumn, NullIfEmpty(options.ChannelColumn), NullIfEmpty(options.PayloadColumn), options.EffectiveOrderColumn);
        _fixed = options.Tables.ToDictionary(
            t => t.Channel,
            t => new Source(t.Channel, t.Table, t.TimeColumn, null, NullIfEmpty(t.PayloadColumn), NullIfEmpty(t.OrderColumn)),
            StringComparer.Ordinal);
        _useExtentsTable = dialect == SqlDialect.PostgreSql && options.Table == PostgreSqlStoreOptions.DefaultTable && _primary.ChannelColumn is not null;
        if (dialect == SqlDialect.Redshift && (_primary.PayloadColumn is null || _fixed.Values.Any(s => s.PayloadColumn is null)))
        {
            throw new ArgumentException("Redshift has no row_to_json: set Tivo:Store:PayloadColumn (and PayloadColumn of every entry of Tivo:Store:Tables).");
        }
    }

    /// <inheritdoc />
    public bool SupportsAppend => true;

    /// <summary>Creates Tivo's table, its (channel, time) index and the extents table when missing (PostgreSQL only).</summary>
    public async Task CreateSchemaAsync(CancellationToken cancellationToken)
    {
        if (_dialect != SqlDialect.PostgreSql)
        {
            throw new NotSupportedException("Tivo does not create Redshift tables: create the table as docs/stores.md shows (with a SORTKEY on channel and time).");
        }

        var s = _primary;
        var order = s.OrderColumn ?? "id";
        var indexName = Quote(Unqualified(s.Table) + "_channel_time");
        var sql = new StringBuilder();
        sql.Append($"CREATE TABLE IF NOT EXISTS {Q(s.Table)} ({Quote(order)} bigserial PRIMARY KEY, {Quote(s.ChannelColumn ?? "channel")} text NOT NULL, ");
        sql.Append($"{Quote(s.TimeColumn)} timestamptz NOT NULL, {Quote(s.PayloadColumn ?? "data")} jsonb NOT NULL);\n");
        sql.Append($"CREATE INDEX IF NOT EXISTS {indexName} ON {Q(s.Table)} ({Quote(s.ChannelColumn ?? "channel")}, {Quote(s.TimeColumn)}, {Quote(order)});\n");
        sql.Append($"CREATE TABLE IF NOT EXISTS {Quote(ExtentsTable)} (name text PRIMARY KEY, first timestamptz NOT NULL, last timestamptz NOT NULL, count bigint NOT NULL);");
        await ExecuteAsync(sql.ToString(), cancellationToken);
    }

    /// <summary>
    /// Checks every mapped table and column against the database's catalog (see <see cref="PostgreSqlMappingCheck"/>),
    /// so a mapping that names a column the table does not have fails at start, naming the setting and the columns
    /// that exist, instead of failing every play later.
    /// </summary>
    /// <exception cref="StoreConfigurationException">A mapped table or column does not exist.</exception>
    /// <exception cref="StoreUnavailableException">The database could not be asked.</exception>
    public Task VerifyMappingAsync(CancellationToken cancellationToken) =>
        PostgreSqlMappingCheck.VerifyAsync(_dataSource,
            [Mapped("Tivo:Store", _primary), .. _options.Tables.Select((t, i) => Mapped($"Tivo:Store:Tables:{i}", _fixed[t.Channel]))],
            cancellationToken);

    private static MappedTable Mapped(string prefix, Source s) => new(prefix, s.Table, s.TimeColumn, s.ChannelColumn, s.PayloadColumn, s.OrderColumn);

    /// <inheritdoc />
    public async IAsyncEnumerable<StoredEvent> ReadAsync(string channel, long fromTicks, long toTicks, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (toTicks <= fromTicks || Resolve(channel) is not { } source)
        {
            yield break;
        }

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var filter = source.ChannelColumn is null ? "" : $"{Quote(source.ChannelColumn)} = @c AND ";
        var order = source.OrderColumn is null ? "" : $", {Quote(source.OrderColumn)}";
        command.CommandText =
            $"SELECT {Quote(source.TimeColumn)}, {PayloadSelect(source)} FROM {Q(source.Table)} AS t " +
            $"WHERE {filter}{Quote(source.TimeColumn)} >= @f AND {Quote(source.TimeColumn)} < @t ORDER BY {Quote(source.TimeColumn)}{order}";
        AddChannel(command, source, channel);
        command.Parameters.Add(new NpgsqlParameter("f", NpgsqlDbType.TimestampTz) { Value = ToBound(fromTicks) });
        command.Parameters.Add(new NpgsqlParameter("t", NpgsqlDbType.TimestampTz) { Value = ToBound(toTicks) });
        NpgsqlDataReader reader;
        try
        {
            reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken);
        }
        catch (NpgsqlException ex)
        {
            throw Unavailable(ex);
        }

        await using (reader)
        {
            while (true)
            {
                StoredEvent next;
                try
                {
                    if (!await reader.ReadAsync(cancellationToken))
                    {
                        yield break;
                    }

                    next = new StoredEvent(ReadTicks(reader, 0), await reader.GetFieldValueAsync<string>(1, cancellationToken));
                }
                catch (NpgsqlException ex)
                {
                    throw Unavailable(ex);
                }

                yield return next;
            }
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ChannelExtent>> ListChannelsAsync(CancellationToken cancellationToken)
    {
        var result = new List<ChannelExtent>();
        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            if (_useExtentsTable)
            {
                await ReadExtentsAsync(connection, $"SELECT name, first, last, count FROM {Quote(ExtentsTable)}", result, cancellationToken);
            }
            else if (_primary.ChannelColumn is { } channelColumn)
            {
                var t = Quote(_primary.TimeColumn);
                await ReadExtentsAsync(connection,
                    $"SELECT {Quote(channelColumn)}, min({t}), max({t}), count(*) FROM {Q(_primary.Table)} GROUP BY {Quote(channelColumn)}", result, cancellationToken);
            }
            else
            {
                await ReadFixedExtentAsync(connection, _primary, result, cancellationToken);
            }

            foreach (var source in _fixed.Values)
            {
                await ReadFixedExtentAsync(connection, source, result, cancellationToken);
            }
        }
        catch (NpgsqlException ex)
        {
            throw Unavailable(ex);
        }

        return [.. result.OrderBy(c => c.Name, StringComparer.Ordinal)];
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<SecondCount>> CountPerSecondAsync(string channel, long fromSecond, long toSecond, CancellationToken cancellationToken)
    {
        var result = new List<SecondCount>();
        if (toSecond <= fromSecond || Resolve(channel) is not { } source)
        {
            return result;
        }

        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            var t = Quote(source.TimeColumn);
            var filter = source.ChannelColumn is null ? "" : $"{Quote(source.ChannelColumn)} = @c AND ";
            command.CommandText =
                $"SELECT CAST(floor(extract(epoch FROM {t})) AS bigint) AS s, count(*) FROM {Q(source.Table)} " +
                $"WHERE {filter}{t} >= @f AND {t} < @t GROUP BY 1 ORDER BY 1";
            AddChannel(command, source, channel);
            command.Parameters.Add(new NpgsqlParameter("f", NpgsqlDbType.TimestampTz) { Value = ToDateTime(TimeUtil.TicksOfSecond(fromSecond)) });
            command.Parameters.Add(new NpgsqlParameter("t", NpgsqlDbType.TimestampTz) { Value = ToDateTime(TimeUtil.TicksOfSecond(toSecond)) });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                result.Add(new SecondCount(reader.GetInt64(0), (int)reader.GetInt64(1)));
            }
        }
        catch (NpgsqlException ex)
        {
            throw Unavailable(ex);
        }

        return result;
    }

    /// <inheritdoc />
    public async Task AppendAsync(string channel, IReadOnlyList<StoredEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        var source = Resolve(channel) ?? throw new NotSupportedException(
            $"Channel '{channel}' is not one this store writes to: it is neither in the channel column of {_primary.Table} nor one of Tivo:Store:Tables.");
        if (source.PayloadColumn is null)
        {
            throw new NotSupportedException($"Table {source.Table} is mapped as whole rows (no Tivo:Store:PayloadColumn), so Tivo cannot write to it.");
        }

        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var cast = await PayloadCastAsync(connection, source, cancellationToken);
            if (_dialect == SqlDialect.PostgreSql)
            {
                await InsertUnnestAsync(connection, transaction, source, channel, events, cast, cancellationToken);
            }
            else
            {
                await InsertValuesAsync(connection, transaction, source, channel, events, cast, cancellationToken);
            }

            if (_useExtentsTable && source == _primary)
            {
                await using var extent = new NpgsqlCommand(
                    $"INSERT INTO {Quote(ExtentsTable)} (name, first, last, count) VALUES (@c, @f, @l, @n) " +
                    "ON CONFLICT (name) DO UPDATE SET first = LEAST(" + Quote(ExtentsTable) + ".first, excluded.first), " +
                    "last = GREATEST(" + Quote(ExtentsTable) + ".last, excluded.last), count = " + Quote(ExtentsTable) + ".count + excluded.count",
                    connection, transaction);
                extent.Parameters.AddWithValue("c", channel);
                extent.Parameters.Add(new NpgsqlParameter("f", NpgsqlDbType.TimestampTz) { Value = ToDateTime(events.Min(e => e.Ticks)) });
                extent.Parameters.Add(new NpgsqlParameter("l", NpgsqlDbType.TimestampTz) { Value = ToDateTime(events.Max(e => e.Ticks)) });
                extent.Parameters.AddWithValue("n", (long)events.Count);
                await extent.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }
        catch (NpgsqlException ex)
        {
            throw Unavailable(ex);
        }
    }

    /// <summary>Disposes the data source only when the store made it (<see cref="Create"/>).</summary>
    public ValueTask DisposeAsync() => _ownedDataSource?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>A store owning its data source (tools and tests; hosts use the container's).</summary>
    public static PostgreSqlEventStore Create(string connectionString, PostgreSqlStoreOptions options, SqlDialect dialect, ILogger<PostgreSqlEventStore> logger)
    {
        var dataSource = PostgreSqlStoreServiceCollectionExtensions.CreateDataSource(connectionString, dialect);
        return new PostgreSqlEventStore(dataSource, options, dialect, logger) { _ownedDataSource = dataSource };
    }

    private async Task InsertUnnestAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Source source, string channel,
        IReadOnlyList<StoredEvent> events, string cast, CancellationToken cancellationToken)
    {
        var columns = source.ChannelColumn is null
            ? $"{Quote(source.TimeColumn)}, {Quote(source.PayloadColumn!)}"
            : $"{Quote(source.ChannelColumn)}, {Quote(source.TimeColumn)}, {Quote(source.PayloadColumn!)}";
        var select = source.ChannelColumn is null ? $"u.t, u.d{cast}" : $"@c, u.t, u.d{cast}";
        await using var insert = new NpgsqlCommand(
            $"INSERT INTO {Q(source.Table)} ({columns}) SELECT {select} FROM unnest(@ts, @ds) WITH ORDINALITY AS u(t, d, n) ORDER BY u.n",
            connection, transaction);
        if (source.ChannelColumn is not null)
        {
            insert.Parameters.AddWithValue("c", channel);
        }

        insert.Parameters.Add(new NpgsqlParameter("ts", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = events.Select(e => ToDateTime(e.Ticks)).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter("ds", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = events.Select(e => e.Data).ToArray() });
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task InsertValuesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Source source, string channel,
        IReadOnlyList<StoredEvent> events, string cast, CancellationToken cancellationToken)
    {
        const int rowsPerStatement = 500;
        var columns = source.ChannelColumn is null
            ? $"{Quote(source.TimeColumn)}, {Quote(source.PayloadColumn!)}"
            : $"{Quote(source.ChannelColumn)}, {Quote(source.TimeColumn)}, {Quote(source.PayloadColumn!)}";
        for (var offset = 0; offset < events.Count; offset += rowsPerStatement)
        {
            var batch = events.Skip(offset).Take(rowsPerStatement).ToList();
            var sql = new StringBuilder($"INSERT INTO {Q(source.Table)} ({columns}) VALUES ");
            await using var insert = new NpgsqlCommand { Connection = connection, Transaction = transaction };
            for (var i = 0; i < batch.Count; i++)
            {
                sql.Append(i == 0 ? "" : ", ");
                var payload = cast == SuperCast ? $"JSON_PARSE(@d{i})" : $"@d{i}{cast}";
                sql.Append(source.ChannelColumn is null ? $"(@t{i}, {payload})" : $"(@c, @t{i}, {payload})");
                insert.Parameters.Add(new NpgsqlParameter($"t{i}", NpgsqlDbType.TimestampTz) { Value = ToDateTime(batch[i].Ticks) });
                insert.Parameters.Add(new NpgsqlParameter($"d{i}", NpgsqlDbType.Text) { Value = batch[i].Data });
            }

            if (source.ChannelColumn is not null)
            {
                insert.Parameters.AddWithValue("c", channel);
            }

            insert.CommandText = sql.ToString();
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private const string SuperCast = "::super";

    /// <summary>How a text parameter becomes the payload column's type (jsonb and json need a cast).</summary>
    private async Task<string> PayloadCastAsync(NpgsqlConnection connection, Source source, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_payloadCasts.TryGetValue(source, out var known))
            {
                return known;
            }
        }

        if (_dialect == SqlDialect.Redshift)
        {
            return _options.PayloadIsSuper ? SuperCast : "";
        }

        var (schema, table) = Split(source.Table);
        await using var command = new NpgsqlCommand(
            "SELECT data_type FROM information_schema.columns WHERE table_name = @t AND column_name = @c AND (@s::text IS NULL OR table_schema = @s) LIMIT 1",
            connection);
        command.Parameters.AddWithValue("t", table);
        command.Parameters.AddWithValue("c", source.PayloadColumn!);
        command.Parameters.Add(new NpgsqlParameter("s", NpgsqlDbType.Text) { Value = (object?)schema ?? DBNull.Value });
        var type = (await command.ExecuteScalarAsync(cancellationToken)) as string;
        var cast = type switch
        {
            "jsonb" => "::jsonb",
            "json" => "::json",
            _ => "",
        };
        lock (_lock)
        {
            _payloadCasts[source] = cast;
        }

        return cast;
    }

    private Source? Resolve(string channel)
    {
        if (_fixed.TryGetValue(channel, out var fixedSource))
        {
            return fixedSource;
        }

        if (_primary.ChannelColumn is not null || _primary.FixedChannel == channel)
        {
            return _primary;
        }

        return null;
    }

    private string PayloadSelect(Source source) => source.PayloadColumn switch
    {
        null => "row_to_json(t)::text",
        { } column when _dialect == SqlDialect.Redshift && _options.PayloadIsSuper => $"JSON_SERIALIZE({Quote(column)})",
        { } column when _dialect == SqlDialect.Redshift => Quote(column),
        { } column => $"{Quote(column)}::text",
    };

    private static void AddChannel(NpgsqlCommand command, Source source, string channel)
    {
        if (source.ChannelColumn is not null)
        {
            command.Parameters.Add(new NpgsqlParameter("c", NpgsqlDbType.Text) { Value = channel });
        }
    }

    private static async Task ReadExtentsAsync(NpgsqlConnection connection, string sql, List<ChannelExtent> result, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(new ChannelExtent(reader.GetString(0), ReadTicks(reader, 1), ReadTicks(reader, 2), reader.GetInt64(3)));
        }
    }

    private static async Task ReadFixedExtentAsync(NpgsqlConnection connection, Source source, List<ChannelExtent> result, CancellationToken cancellationToken)
    {
        var t = Quote(source.TimeColumn);
        await using var command = new NpgsqlCommand($"SELECT min({t}), max({t}), count(*) FROM {Q(source.Table)}", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (await reader.ReadAsync(cancellationToken) && !reader.IsDBNull(0))
        {
            result.Add(new ChannelExtent(source.FixedChannel!, ReadTicks(reader, 0), ReadTicks(reader, 1), reader.GetInt64(2)));
        }
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (NpgsqlException ex)
        {
            throw Unavailable(ex);
        }
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _dataSource.OpenConnectionAsync(cancellationToken);
        }
        catch (NpgsqlException ex)
        {
            throw Unavailable(ex);
        }
    }

    private StoreUnavailableException Unavailable(NpgsqlException ex)
    {
        var hint = ex is PostgresException { SqlState: "42P01" or "42703" }
            ? " Check Tivo:Store:Table and the column settings against the database."
            : "";
        LogFailed(_logger, _dialect, ex.Message);
        return new StoreUnavailableException($"{_dialect} query failed: {ex.Message}.{hint}", ex);
    }

    private static long ReadTicks(NpgsqlDataReader reader, int ordinal)
    {
        var value = reader.GetFieldValue<DateTime>(ordinal);
        // timestamptz arrives as UTC; a plain timestamp column is taken to hold UTC.
        return value.Kind == DateTimeKind.Local ? value.ToUniversalTime().Ticks : value.Ticks;
    }

    private static DateTime ToDateTime(long ticks) => new(ticks, DateTimeKind.Utc);

    /// <summary>A window bound for a comparison with stored times. PostgreSQL keeps microseconds and Npgsql truncates
    /// the 100-ns ticks beyond them, so <c>ts &lt; last + 1 tick</c> became <c>ts &lt; last</c> and the window's last
    /// event was lost (an export of a whole channel missed its last row). Rounding the bound up to the next
    /// microsecond keeps <c>ts &gt;= from</c> and <c>ts &lt; to</c> exact for every stored time.</summary>
    private static DateTime ToBound(long ticks)
    {
        const long TicksPerMicrosecond = 10;
        var remainder = ticks % TicksPerMicrosecond;
        return ToDateTime(remainder == 0 ? ticks : Math.Min(ticks - remainder + TicksPerMicrosecond, DateTime.MaxValue.Ticks));
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>Quotes one validated identifier.</summary>
    internal static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>Quotes a possibly schema-qualified name.</summary>
    internal static string Q(string name) => string.Join('.', name.Split('.').Select(Quote));

    private static string Unqualified(string name) => name.Split('.')[^1];

    internal static (string? Schema, string Table) Split(string name)
    {
        var parts = name.Split('.');
        return parts.Length == 2 ? (parts[0], parts[1]) : (null, parts[0]);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Dialect} store query failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, SqlDialect dialect, string reason);

    private sealed record Source(string? FixedChannel, string Table, string TimeColumn, string? ChannelColumn, string? PayloadColumn, string? OrderColumn);

    /// <summary>A mapped table as the catalog check sees it: the setting prefix and the columns it names.</summary>
    internal sealed record MappedTable(string Prefix, string Table, string TimeColumn, string? ChannelColumn, string? PayloadColumn, string? OrderColumn);
}
