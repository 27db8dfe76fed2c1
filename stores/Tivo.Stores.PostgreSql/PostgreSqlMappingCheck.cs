using Npgsql;
using NpgsqlTypes;

namespace Tivo.Stores.PostgreSql;

/// <summary>
/// Checks a table mapping against the database's catalog (<c>information_schema.columns</c>) at start: every mapped
/// table must exist and have every column its settings name. Each problem is a sentence naming the setting and the
/// columns there are. Called by <see cref="PostgreSqlEventStore.VerifyMappingAsync"/>.
/// </summary>
internal static class PostgreSqlMappingCheck
{
    public static async Task VerifyAsync(NpgsqlDataSource dataSource, IReadOnlyList<PostgreSqlEventStore.MappedTable> tables, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            foreach (var source in tables)
            {
                var (schema, table) = PostgreSqlEventStore.Split(source.Table);
                await using var command = new NpgsqlCommand(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = @t AND (@s::text IS NULL OR table_schema = @s) ORDER BY ordinal_position",
                    connection);
                command.Parameters.AddWithValue("t", table);
                command.Parameters.Add(new NpgsqlParameter("s", NpgsqlDbType.Text) { Value = (object?)schema ?? DBNull.Value });
                var columns = new List<string>();
                await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
                {
                    while (await reader.ReadAsync(cancellationToken))
                    {
                        columns.Add(reader.GetString(0));
                    }
                }

                if (columns.Count == 0)
                {
                    problems.Add($"{source.Prefix}:Table '{source.Table}' does not exist (or this user cannot see it).");
                    continue;
                }

                var existing = string.Join(", ", columns.Distinct(StringComparer.Ordinal));
                void Require(string setting, string? column)
                {
                    if (column is not null && !columns.Contains(column, StringComparer.Ordinal))
                    {
                        problems.Add($"{source.Prefix}:{setting} is '{column}', but table '{source.Table}' has no such column; its columns are: {existing}.");
                    }
                }

                Require("TimeColumn", source.TimeColumn);
                Require("ChannelColumn", source.ChannelColumn);
                Require("PayloadColumn", source.PayloadColumn);
                Require("OrderColumn", source.OrderColumn);
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            throw new StoreUnavailableException($"the database could not be reached to check the table mapping: {ex.Message}", ex);
        }

        if (problems.Count > 0)
        {
            throw new StoreConfigurationException("The PostgreSQL table mapping does not match the database: " + string.Join(" ", problems));
        }
    }
}
