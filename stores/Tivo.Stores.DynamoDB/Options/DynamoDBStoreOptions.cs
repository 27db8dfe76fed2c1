using Microsoft.Extensions.Options;

namespace Tivo.Stores.DynamoDB;

/// <summary>How events are laid out in a DynamoDB table, bound from <c>Tivo:Store</c>.</summary>
/// <remarks>
/// Tivo's key design: partition key <c>{channel}#{bucket}</c> where bucket is the Unix time divided by
/// <see cref="BucketSeconds"/>, so a hot channel spreads over one partition per hour instead of one
/// forever; sort key <c>{ticks:D19}#{tie}</c>, so a Query range is a time range and equal times keep
/// insertion order. An existing table maps by naming its key and attribute names and formats.
/// </remarks>
public sealed class DynamoDBStoreOptions
{
    /// <summary>Table name.</summary>
    public string TableName { get; set; } = "tivo_events";

    /// <summary>Endpoint override for DynamoDB Local or dynalite (<c>http://127.0.0.1:8000</c>); empty for AWS.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>AWS region (default: the SDK's resolution: AWS_REGION, profile, instance metadata).</summary>
    public string? Region { get; set; }

    /// <summary>Static credentials (for local servers); empty: the SDK's default credential chain. Never logged.</summary>
    public string? AccessKey { get; set; }

    /// <summary>Secret matching <see cref="AccessKey"/>. Never logged.</summary>
    public string? SecretKey { get; set; }

    /// <summary>Partition key attribute name.</summary>
    public string PartitionKey { get; set; } = "pk";

    /// <summary>Sort key attribute name.</summary>
    public string SortKey { get; set; } = "sk";

    /// <summary><c>Tivo</c> (<c>{ticks:D19}#{tie}</c>, string), <c>Iso8601</c> (string, UTC, sortable) or <c>EpochMillis</c> (number).</summary>
    public string SortKeyFormat { get; set; } = SortKeyFormats.Tivo;

    /// <summary>Seconds per partition bucket; 0 means the partition key is the channel name alone.</summary>
    public int BucketSeconds { get; set; } = 3600;

    /// <summary>The payload attribute (a string holding JSON, or a map/list, which is converted to JSON).</summary>
    public string DataAttribute { get; set; } = "data";

    /// <summary>Create the table (on-demand capacity) at start when it is missing.</summary>
    public bool CreateTable { get; set; }
}

/// <summary>Values of <see cref="DynamoDBStoreOptions.SortKeyFormat"/>.</summary>
public static class SortKeyFormats
{
    public const string Tivo = "Tivo";
    public const string Iso8601 = "Iso8601";
    public const string EpochMillis = "EpochMillis";
}

/// <summary>Validates <see cref="DynamoDBStoreOptions"/>, naming the setting at fault.</summary>
public sealed class DynamoDBStoreOptionsValidator : IValidateOptions<DynamoDBStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, DynamoDBStoreOptions o)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.TableName) || o.TableName.Length is < 3 or > 255 || o.TableName.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')))
        {
            errors.Add($"Tivo:Store:TableName '{o.TableName}' is not a DynamoDB table name (3–255 of a–z A–Z 0–9 _ - .).");
        }

        if (o.ServiceUrl is { Length: > 0 } url && !Uri.TryCreate(url, UriKind.Absolute, out _))
        {
            errors.Add($"Tivo:Store:ServiceUrl '{url}' is not an absolute URL such as http://127.0.0.1:8000.");
        }

        if (string.IsNullOrEmpty(o.AccessKey) != string.IsNullOrEmpty(o.SecretKey))
        {
            errors.Add("Tivo:Store:AccessKey and Tivo:Store:SecretKey go together: set both, or neither to use the default AWS credential chain.");
        }

        if (o.SortKeyFormat is not (SortKeyFormats.Tivo or SortKeyFormats.Iso8601 or SortKeyFormats.EpochMillis))
        {
            errors.Add($"Tivo:Store:SortKeyFormat '{o.SortKeyFormat}' is not one of Tivo, Iso8601, EpochMillis.");
        }

        if (o.BucketSeconds < 0)
        {
            errors.Add($"Tivo:Store:BucketSeconds is {o.BucketSeconds}; use 0 (no buckets) or a positive number of seconds such as 3600.");
        }

        if (string.IsNullOrWhiteSpace(o.PartitionKey) || string.IsNullOrWhiteSpace(o.SortKey) || string.IsNullOrWhiteSpace(o.DataAttribute))
        {
            errors.Add("Tivo:Store:PartitionKey, SortKey and DataAttribute must name attributes.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
