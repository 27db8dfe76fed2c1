using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Tivo.Stores.PostgreSql;

/// <summary>
/// Where events live in PostgreSQL (or Redshift), bound from <c>Tivo:Store</c>. The defaults describe
/// Tivo's own table; set the names to read a table that already exists.
/// </summary>
public sealed class PostgreSqlStoreOptions
{
    /// <summary>Npgsql connection string (<c>Tivo__Store__ConnectionString</c>). Never logged.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The events table, optionally schema-qualified (<c>analytics.events</c>).</summary>
    public string Table { get; set; } = DefaultTable;

    /// <summary>The time column (<c>timestamptz</c>, or <c>timestamp</c> read as UTC).</summary>
    public string TimeColumn { get; set; } = "ts";

    /// <summary>The channel column. Empty: the whole table is one channel, named by <see cref="Channel"/>.</summary>
    public string? ChannelColumn { get; set; } = "channel";

    /// <summary>The channel name of a table without a channel column (default: the table name).</summary>
    public string? Channel { get; set; }

    /// <summary>The payload column (<c>jsonb</c>, <c>json</c> or text holding JSON). Empty: the whole row as JSON.</summary>
    public string? PayloadColumn { get; set; } = "data";

    /// <summary>A unique, increasing column that orders events with equal times. Unset: <c>id</c> for Tivo's own
    /// table (<see cref="DefaultTable"/>), none for any other table (ties in any order); empty: none.</summary>
    public string? OrderColumn { get; set; }

    /// <summary>The order column in effect: <see cref="OrderColumn"/>, or <c>id</c> for Tivo's own table when unset.</summary>
    public string? EffectiveOrderColumn => OrderColumn switch
    {
        null => Table == DefaultTable ? "id" : null,
        "" => null,
        var column => column,
    };

    /// <summary>Create Tivo's table, index and extents table at start when they are missing.</summary>
    public bool CreateSchema { get; set; }

    /// <summary>More tables, one channel each (several tables as several channels).</summary>
    public List<PostgreSqlTableOptions> Tables { get; set; } = [];

    /// <summary>Redshift only: the payload column is of type SUPER and is read with JSON_SERIALIZE.</summary>
    public bool PayloadIsSuper { get; set; }

    /// <summary>Tivo's own table name.</summary>
    public const string DefaultTable = "tivo_events";
}

/// <summary>One more table mapped as one channel.</summary>
public sealed class PostgreSqlTableOptions
{
    public string Channel { get; set; } = "";
    public string Table { get; set; } = "";
    public string TimeColumn { get; set; } = "ts";
    public string? PayloadColumn { get; set; }
    public string? OrderColumn { get; set; }
}

/// <summary>Validates identifiers and the connection string, naming the setting at fault.</summary>
public sealed partial class PostgreSqlStoreOptionsValidator : IValidateOptions<PostgreSqlStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, PostgreSqlStoreOptions o)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.ConnectionString))
        {
            errors.Add("Tivo:Store:ConnectionString is empty: set it (or Tivo__Store__ConnectionString), e.g. Host=db;Database=events;Username=tivo;Password=….");
        }

        Check(errors, "Tivo:Store:Table", o.Table, qualified: true, required: true);
        Check(errors, "Tivo:Store:TimeColumn", o.TimeColumn, qualified: false, required: true);
        Check(errors, "Tivo:Store:ChannelColumn", o.ChannelColumn, qualified: false, required: false);
        Check(errors, "Tivo:Store:PayloadColumn", o.PayloadColumn, qualified: false, required: false);
        Check(errors, "Tivo:Store:OrderColumn", o.OrderColumn, qualified: false, required: false);
        for (var i = 0; i < o.Tables.Count; i++)
        {
            var t = o.Tables[i];
            if (string.IsNullOrWhiteSpace(t.Channel))
            {
                errors.Add($"Tivo:Store:Tables:{i}:Channel is empty: name the channel this table serves.");
            }

            Check(errors, $"Tivo:Store:Tables:{i}:Table", t.Table, qualified: true, required: true);
            Check(errors, $"Tivo:Store:Tables:{i}:TimeColumn", t.TimeColumn, qualified: false, required: true);
            Check(errors, $"Tivo:Store:Tables:{i}:PayloadColumn", t.PayloadColumn, qualified: false, required: false);
            Check(errors, $"Tivo:Store:Tables:{i}:OrderColumn", t.OrderColumn, qualified: false, required: false);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Check(List<string> errors, string setting, string? value, bool qualified, bool required)
    {
        if (string.IsNullOrEmpty(value))
        {
            if (required)
            {
                errors.Add($"{setting} is empty: name a table or column.");
            }

            return;
        }

        var parts = qualified ? value.Split('.') : [value];
        if (parts.Length > 2 || parts.Any(p => !Identifier().IsMatch(p)))
        {
            errors.Add($"{setting} '{value}' is not a plain SQL identifier: use letters, digits, '_' or '$' (at most 63, not starting with a digit){(qualified ? ", optionally schema.table" : "")}.");
        }
    }

    /// <summary>A plain identifier: Tivo quotes it, so case is kept exactly as configured.</summary>
    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_$]{0,62}\z")]
    internal static partial Regex Identifier();
}
