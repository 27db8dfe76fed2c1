using Tivo.Events;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tivo.Stores.Embedded;

/// <summary>
/// The embedded default store: one SQLite file (WAL mode) holding every channel. Events are keyed
/// by (channel, ts, id) so a window is one index range scan; a small <c>channels</c> table keeps
/// each channel's extent so listing channels never scans the events.
/// </summary>
public sealed partial class SqliteEventStore : IEventStore
{
    private readonly string _connectionString;
    private readonly string _path;
    private readonly ILogger<SqliteEventStore> _logger;
    private readonly SemaphoreSlim _initLock = new(1, 1);
    private volatile bool _initialized;

    /// <summary>Creates the store over the file named by <see cref="EmbeddedStoreOptions.Path"/>.</summary>
    public SqliteEventStore(IOptions<EmbeddedStoreOptions> options, ILogger<SqliteEventStore> logger)
    {
        _path = Path.GetFullPath(options.Value.Path);
        _logger = logger;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
        }.ToString();
    }

    /// <summary>The absolute path of the SQLite file.</summary>
    public string FilePath => _path;

    /// <inheritdoc />
    public bool SupportsAppend => true;

    /// <summary>Creates the schema when missing. Safe to call more than once.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        if (_initialized)
        {
            return;
        }

        await _initLock.WaitAsync(cancellationToken);
        try
        {
            if (_initialized)
            {
                return;
            }

            var folder = Path.GetDirectoryName(_path);
            if (!string.IsNullOrEmpty(folder))
            {
                Directory.CreateDirectory(folder);
            }

            await using var connection = await OpenCoreAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS events (
                    id      INTEGER PRIMARY KEY,
                    channel TEXT    NOT NULL,
                    ts      INTEGER NOT NULL,
                    data    TEXT    NOT NULL
                );
                CREATE INDEX IF NOT EXISTS ix_events_channel_ts ON events (channel, ts, id);
                CREATE TABLE IF NOT EXISTS channels (
                    name  TEXT PRIMARY KEY,
                    first INTEGER NOT NULL,
                    last  INTEGER NOT NULL,
                    count INTEGER NOT NULL
                );
                """;
            await command.ExecuteNonQueryAsync(cancellationToken);
            _initialized = true;
            LogOpened(_logger, _path);
        }
        catch (SqliteException ex)
        {
            throw new StoreUnavailableException($"The embedded store at '{_path}' could not be opened: {ex.Message}", ex);
        }
        finally
        {
            _initLock.Release();
        }
    }

    /// <summary>True when no event is stored yet.</summary>
    public async Task<bool> IsEmptyAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT NOT EXISTS (SELECT 1 FROM events)";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) == 1;
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<StoredEvent> ReadAsync(string channel, long fromTicks, long toTicks,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (toTicks <= fromTicks)
        {
            yield break;
        }

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT ts, data FROM events WHERE channel = $c AND ts >= $f AND ts < $t ORDER BY ts, id";
        command.Parameters.AddWithValue("$c", channel);
        command.Parameters.AddWithValue("$f", fromTicks);
        command.Parameters.AddWithValue("$t", toTicks);
        SqliteDataReader reader;
        try
        {
            reader = await command.ExecuteReaderAsync(cancellationToken);
        }
        catch (SqliteException ex)
        {
            throw Unavailable(ex);
        }

        await using (reader)
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await reader.ReadAsync(cancellationToken);
                }
                catch (SqliteException ex)
                {
                    throw Unavailable(ex);
                }

                if (!more)
                {
                    yield break;
                }

                yield return new StoredEvent(reader.GetInt64(0), reader.GetString(1));
            }
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ChannelExtent>> ListChannelsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT name, first, last, count FROM channels ORDER BY name";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var result = new List<ChannelExtent>();
            while (await reader.ReadAsync(cancellationToken))
            {
                result.Add(new ChannelExtent(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
            }

            return result;
        }
        catch (SqliteException ex)
        {
            throw Unavailable(ex);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<SecondCount>> CountPerSecondAsync(string channel, long fromSecond, long toSecond, CancellationToken cancellationToken)
    {
        var result = new List<SecondCount>();
        if (toSecond <= fromSecond)
        {
            return result;
        }

        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            // ts − f is never negative inside the window, so integer division is a floor.
            command.CommandText = """
                SELECT ($s + (ts - $f) / 10000000) AS sec, COUNT(*)
                FROM events WHERE channel = $c AND ts >= $f AND ts < $t
                GROUP BY sec ORDER BY sec
                """;
            command.Parameters.AddWithValue("$c", channel);
            command.Parameters.AddWithValue("$s", fromSecond);
            command.Parameters.AddWithValue("$f", TimeUtil.TicksOfSecond(fromSecond));
            command.Parameters.AddWithValue("$t", TimeUtil.TicksOfSecond(toSecond));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                result.Add(new SecondCount(reader.GetInt64(0), reader.GetInt32(1)));
            }

            return result;
        }
        catch (SqliteException ex)
        {
            throw Unavailable(ex);
        }
    }

    /// <inheritdoc />
    public async Task AppendAsync(string channel, IReadOnlyList<StoredEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
            await using (var insert = connection.CreateCommand())
            {
                insert.Transaction = transaction;
                insert.CommandText = "INSERT INTO events (channel, ts, data) VALUES ($c, $t, $d)";
                var c = insert.Parameters.Add("$c", SqliteType.Text);
                var t = insert.Parameters.Add("$t", SqliteType.Integer);
                var d = insert.Parameters.Add("$d", SqliteType.Text);
                await insert.PrepareAsync(cancellationToken);
                c.Value = channel;
                long first = long.MaxValue, last = long.MinValue;
                foreach (var e in events)
                {
                    t.Value = e.Ticks;
                    d.Value = e.Data;
                    // Synchronous on purpose: SQLite work is CPU-bound and the async path only adds overhead per row.
                    insert.ExecuteNonQuery();
                    first = Math.Min(first, e.Ticks);
                    last = Math.Max(last, e.Ticks);
                }

                await using var extent = connection.CreateCommand();
                extent.Transaction = transaction;
                extent.CommandText = """
                    INSERT INTO channels (name, first, last, count) VALUES ($c, $f, $l, $n)
                    ON CONFLICT (name) DO UPDATE SET first = MIN(first, excluded.first), last = MAX(last, excluded.last), count = count + excluded.count
                    """;
                extent.Parameters.AddWithValue("$c", channel);
                extent.Parameters.AddWithValue("$f", first);
                extent.Parameters.AddWithValue("$l", last);
                extent.Parameters.AddWithValue("$n", events.Count);
                await extent.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }
        catch (SqliteException ex)
        {
            throw Unavailable(ex);
        }
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        await InitializeAsync(cancellationToken);
        try
        {
            return await OpenCoreAsync(cancellationToken);
        }
        catch (SqliteException ex)
        {
            throw Unavailable(ex);
        }
    }

    private async Task<SqliteConnection> OpenCoreAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    private StoreUnavailableException Unavailable(SqliteException ex)
    {
        LogQueryFailed(_logger, _path, ex.SqliteErrorCode, ex);
        return new StoreUnavailableException($"The embedded store could not be read ({ex.Message}).", ex);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Embedded store: {Path} (Tivo:Store:Path)")]
    private static partial void LogOpened(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Embedded store {Path} failed with SQLite error {Code}")]
    private static partial void LogQueryFailed(ILogger logger, string path, int code, Exception exception);
}
