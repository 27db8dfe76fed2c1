using Tivo.Events;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.DocumentModel;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;

namespace Tivo.Stores.DynamoDB;

/// <summary>
/// Events in DynamoDB. A window is read as one paged Query per time bucket, buckets in order, so a
/// read touches only the partitions of its window and never scans. See <see cref="DynamoDBStoreOptions"/>
/// for the key design.
/// </summary>
public sealed partial class DynamoDBEventStore : IEventStore, IDisposable
{
    /// <summary>Partition key of the items that keep each channel's extent.</summary>
    public const string ExtentsPartition = "~tivo-channels";

    private readonly IAmazonDynamoDB _client;
    private readonly DynamoDBStoreOptions _options;
    private readonly ILogger _logger;
    private long _lastTie;

    public DynamoDBEventStore(IAmazonDynamoDB client, DynamoDBStoreOptions options, ILogger<DynamoDBEventStore> logger)
    {
        _client = client;
        _options = options;
        _logger = logger;
    }

    /// <summary>Builds a client from the options (endpoint override and static credentials for local servers).</summary>
    public static IAmazonDynamoDB CreateClient(DynamoDBStoreOptions options)
    {
        var config = new AmazonDynamoDBConfig { MaxErrorRetry = 2, Timeout = TimeSpan.FromSeconds(10) };
        if (!string.IsNullOrEmpty(options.ServiceUrl))
        {
            config.ServiceURL = options.ServiceUrl;
            config.AuthenticationRegion = options.Region ?? "us-east-1";
        }
        else if (!string.IsNullOrEmpty(options.Region))
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }

        return string.IsNullOrEmpty(options.AccessKey)
            ? new AmazonDynamoDBClient(config)
            : new AmazonDynamoDBClient(new BasicAWSCredentials(options.AccessKey, options.SecretKey), config);
    }

    /// <inheritdoc />
    public bool SupportsAppend => true;

    /// <summary>Creates the table (on demand capacity) when it does not exist.</summary>
    public async Task CreateTableAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _client.DescribeTableAsync(_options.TableName, cancellationToken);
            return;
        }
        catch (ResourceNotFoundException)
        {
        }

        var sortType = _options.SortKeyFormat == SortKeyFormats.EpochMillis ? ScalarAttributeType.N : ScalarAttributeType.S;
        await Guard(() => _client.CreateTableAsync(new CreateTableRequest
        {
            TableName = _options.TableName,
            BillingMode = BillingMode.PAY_PER_REQUEST,
            AttributeDefinitions = [new(_options.PartitionKey, ScalarAttributeType.S), new(_options.SortKey, sortType)],
            KeySchema = [new(_options.PartitionKey, KeyType.HASH), new(_options.SortKey, KeyType.RANGE)],
        }, cancellationToken));

        // A new table takes a moment to become ACTIVE; writes before that fail.
        for (var attempt = 0; attempt < 600; attempt++)
        {
            var table = await Guard(() => _client.DescribeTableAsync(_options.TableName, cancellationToken));
            if (table.Table.TableStatus == TableStatus.ACTIVE)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }

        throw new StoreUnavailableException($"DynamoDB table '{_options.TableName}' did not become ACTIVE within a minute.");
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<StoredEvent> ReadAsync(string channel, long fromTicks, long toTicks, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (toTicks <= fromTicks)
        {
            yield break;
        }

        foreach (var partition in Partitions(channel, fromTicks, toTicks))
        {
            Dictionary<string, AttributeValue>? start = null;
            do
            {
                var request = RangeQuery(partition, fromTicks, toTicks, projection: null);
                request.ExclusiveStartKey = start;
                var page = await Guard(() => _client.QueryAsync(request, cancellationToken));
                foreach (var item in page.Items ?? [])
                {
                    yield return new StoredEvent(TicksOf(item[_options.SortKey]), PayloadOf(item));
                }

                start = page.LastEvaluatedKey is { Count: > 0 } key ? key : null;
            }
            while (start is not null);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ChannelExtent>> ListChannelsAsync(CancellationToken cancellationToken)
    {
        var result = new List<ChannelExtent>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var page = await Guard(() => _client.QueryAsync(new QueryRequest
            {
                TableName = _options.TableName,
                KeyConditionExpression = "#pk = :pk",
                ExpressionAttributeNames = new() { ["#pk"] = _options.PartitionKey },
                ExpressionAttributeValues = new() { [":pk"] = new AttributeValue { S = ExtentsPartition } },
                ExclusiveStartKey = start,
            }, cancellationToken));
            foreach (var item in page.Items ?? [])
            {
                if (item.TryGetValue("first", out var first) && item.TryGetValue("last", out var last))
                {
                    result.Add(new ChannelExtent(item[_options.SortKey].S, Number(first), Number(last), Number(item["count"])));
                }
            }

            start = page.LastEvaluatedKey is { Count: > 0 } key ? key : null;
        }
        while (start is not null);

        return result.Count > 0 ? [.. result.OrderBy(c => c.Name, StringComparer.Ordinal)] : await ScanExtentsAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<SecondCount>> CountPerSecondAsync(string channel, long fromSecond, long toSecond, CancellationToken cancellationToken)
    {
        var counts = new SortedDictionary<long, int>();
        if (toSecond > fromSecond)
        {
            var from = TimeUtil.TicksOfSecond(fromSecond);
            var to = TimeUtil.TicksOfSecond(toSecond);
            foreach (var partition in Partitions(channel, from, to))
            {
                Dictionary<string, AttributeValue>? start = null;
                do
                {
                    var request = RangeQuery(partition, from, to, projection: "#sk");
                    request.ExclusiveStartKey = start;
                    var page = await Guard(() => _client.QueryAsync(request, cancellationToken));
                    foreach (var item in page.Items ?? [])
                    {
                        var second = TimeUtil.SecondOf(TicksOf(item[_options.SortKey]));
                        counts[second] = counts.GetValueOrDefault(second) + 1;
                    }

                    start = page.LastEvaluatedKey is { Count: > 0 } key ? key : null;
                }
                while (start is not null);
            }
        }

        return [.. counts.Select(p => new SecondCount(p.Key, p.Value))];
    }

    /// <inheritdoc />
    /// <remarks>DynamoDB writes at most 25 items per batch and has no transaction over more than 100, so a large
    /// append is not atomic: when a batch fails, the exception says how many events were stored before it.</remarks>
    public async Task AppendAsync(string channel, IReadOnlyList<StoredEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        var baseTie = NextTieBase(events.Count);
        var written = 0;
        try
        {
            for (var offset = 0; offset < events.Count; offset += 25)
            {
                var requests = new List<WriteRequest>();
                for (var i = offset; i < Math.Min(offset + 25, events.Count); i++)
                {
                    var e = events[i];
                    requests.Add(new WriteRequest(new PutRequest(new Dictionary<string, AttributeValue>
                    {
                        [_options.PartitionKey] = new() { S = PartitionOf(channel, e.Ticks) },
                        [_options.SortKey] = SortKeyOf(e.Ticks, baseTie + i),
                        [_options.DataAttribute] = new() { S = e.Data },
                    })));
                }

                var pending = new Dictionary<string, List<WriteRequest>> { [_options.TableName] = requests };
                for (var attempt = 0; pending.Count > 0 && pending.Values.Any(v => v.Count > 0); attempt++)
                {
                    if (attempt > 0)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(50 * Math.Min(attempt, 20)), cancellationToken);
                    }

                    var response = await _client.BatchWriteItemAsync(new BatchWriteItemRequest { RequestItems = pending }, cancellationToken);
                    pending = response.UnprocessedItems ?? [];
                    if (attempt > 50)
                    {
                        throw new StoreUnavailableException("DynamoDB kept throttling the write (unprocessed items after 50 retries).");
                    }
                }

                written += requests.Count;
            }

            await UpdateExtentAsync(channel, events.Min(e => e.Ticks), events.Max(e => e.Ticks), events.Count, cancellationToken);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException or SocketException)
        {
            LogFailed(_logger, ex.Message);
            throw new StoreUnavailableException(
                $"DynamoDB write failed after {written} of {events.Count} events were stored ({ex.Message}). Re-sending the rest is safe; re-sending all duplicates the first {written}.", ex);
        }
    }

    public void Dispose() => _client.Dispose();

    private async Task UpdateExtentAsync(string channel, long first, long last, int count, CancellationToken cancellationToken)
    {
        var key = new Dictionary<string, AttributeValue>
        {
            [_options.PartitionKey] = new() { S = ExtentsPartition },
            [_options.SortKey] = _options.SortKeyFormat == SortKeyFormats.EpochMillis ? new() { N = "0" } : new() { S = channel },
        };
        if (_options.SortKeyFormat == SortKeyFormats.EpochMillis)
        {
            return; // extents need a string sort key; such tables are listed by scanning
        }

        await _client.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = _options.TableName,
            Key = key,
            UpdateExpression = "ADD #count :n",
            ExpressionAttributeNames = new() { ["#count"] = "count" },
            ExpressionAttributeValues = new() { [":n"] = new AttributeValue { N = count.ToString(CultureInfo.InvariantCulture) } },
        }, cancellationToken);
        foreach (var (attribute, value, comparison) in new[] { ("first", first, ">"), ("last", last, "<") })
        {
            try
            {
                await _client.UpdateItemAsync(new UpdateItemRequest
                {
                    TableName = _options.TableName,
                    Key = key,
                    UpdateExpression = "SET #a = :v",
                    ConditionExpression = $"attribute_not_exists(#a) OR #a {comparison} :v",
                    ExpressionAttributeNames = new() { ["#a"] = attribute },
                    ExpressionAttributeValues = new() { [":v"] = new AttributeValue { N = value.ToString(CultureInfo.InvariantCulture) } },
                }, cancellationToken);
            }
            catch (ConditionalCheckFailedException)
            {
                // The stored extent already covers this value.
            }
        }
    }

    /// <summary>Tables Tivo did not write have no extent items: list channels with one projected scan.</summary>
    private async Task<IReadOnlyList<ChannelExtent>> ScanExtentsAsync(CancellationToken cancellationToken)
    {
        var extents = new Dictionary<string, (long First, long Last, long Count)>(StringComparer.Ordinal);
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var page = await Guard(() => _client.ScanAsync(new ScanRequest
            {
                TableName = _options.TableName,
                ProjectionExpression = "#pk, #sk",
                ExpressionAttributeNames = new() { ["#pk"] = _options.PartitionKey, ["#sk"] = _options.SortKey },
                ExclusiveStartKey = start,
            }, cancellationToken));
            foreach (var item in page.Items ?? [])
            {
                var pk = item[_options.PartitionKey].S;
                if (pk == ExtentsPartition)
                {
                    continue;
                }

                var channel = _options.BucketSeconds > 0 && pk.LastIndexOf('#') is var hash and > 0 ? pk[..hash] : pk;
                var ticks = TicksOf(item[_options.SortKey]);
                extents[channel] = extents.TryGetValue(channel, out var e)
                    ? (Math.Min(e.First, ticks), Math.Max(e.Last, ticks), e.Count + 1)
                    : (ticks, ticks, 1);
            }

            start = page.LastEvaluatedKey is { Count: > 0 } key ? key : null;
        }
        while (start is not null);

        return [.. extents.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new ChannelExtent(p.Key, p.Value.First, p.Value.Last, p.Value.Count))];
    }

    private QueryRequest RangeQuery(string partition, long fromTicks, long toTicks, string? projection)
    {
        var (low, high) = SortRange(fromTicks, toTicks);
        var request = new QueryRequest
        {
            TableName = _options.TableName,
            KeyConditionExpression = "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ExpressionAttributeNames = new() { ["#pk"] = _options.PartitionKey, ["#sk"] = _options.SortKey },
            ExpressionAttributeValues = new() { [":pk"] = new AttributeValue { S = partition }, [":lo"] = low, [":hi"] = high },
            ConsistentRead = true,
        };
        if (projection is not null)
        {
            request.ProjectionExpression = projection;
        }

        return request;
    }

    private IEnumerable<string> Partitions(string channel, long fromTicks, long toTicks)
    {
        if (_options.BucketSeconds == 0)
        {
            yield return channel;
            yield break;
        }

        var first = Bucket(fromTicks);
        var last = Bucket(toTicks - 1);
        for (var b = first; b <= last; b++)
        {
            yield return $"{channel}#{b.ToString(CultureInfo.InvariantCulture)}";
        }
    }

    private string PartitionOf(string channel, long ticks) =>
        _options.BucketSeconds == 0 ? channel : $"{channel}#{Bucket(ticks).ToString(CultureInfo.InvariantCulture)}";

    private long Bucket(long ticks) => (long)Math.Floor(TimeUtil.SecondOf(ticks) / (double)_options.BucketSeconds);

    private AttributeValue SortKeyOf(long ticks, long tie) => _options.SortKeyFormat switch
    {
        SortKeyFormats.Iso8601 => new AttributeValue { S = new DateTime(ticks, DateTimeKind.Utc).ToString("O", CultureInfo.InvariantCulture) },
        SortKeyFormats.EpochMillis => new AttributeValue { N = ((ticks - TimeUtil.UnixEpochTicks) / TimeSpan.TicksPerMillisecond).ToString(CultureInfo.InvariantCulture) },
        _ => new AttributeValue { S = $"{ticks.ToString("D19", CultureInfo.InvariantCulture)}#{tie.ToString("D19", CultureInfo.InvariantCulture)}" },
    };

    /// <summary>An inclusive sort key range covering [from, to).</summary>
    private (AttributeValue Low, AttributeValue High) SortRange(long fromTicks, long toTicks) => _options.SortKeyFormat switch
    {
        SortKeyFormats.Iso8601 => (
            new AttributeValue { S = new DateTime(fromTicks, DateTimeKind.Utc).ToString("O", CultureInfo.InvariantCulture) },
            new AttributeValue { S = new DateTime(toTicks - 1, DateTimeKind.Utc).ToString("O", CultureInfo.InvariantCulture) }),
        SortKeyFormats.EpochMillis => (
            new AttributeValue { N = CeilMillis(fromTicks).ToString(CultureInfo.InvariantCulture) },
            new AttributeValue { N = (CeilMillis(toTicks) - 1).ToString(CultureInfo.InvariantCulture) }),
        _ => (
            new AttributeValue { S = fromTicks.ToString("D19", CultureInfo.InvariantCulture) },
            new AttributeValue { S = (toTicks - 1).ToString("D19", CultureInfo.InvariantCulture) + "#~" }),
    };

    private static long CeilMillis(long ticks)
    {
        var offset = ticks - TimeUtil.UnixEpochTicks;
        return offset / TimeSpan.TicksPerMillisecond + (offset % TimeSpan.TicksPerMillisecond > 0 ? 1 : 0);
    }

    private long TicksOf(AttributeValue sortKey) => _options.SortKeyFormat switch
    {
        SortKeyFormats.Iso8601 => DateTime.Parse(sortKey.S, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal).Ticks,
        SortKeyFormats.EpochMillis => TimeUtil.UnixEpochTicks + long.Parse(sortKey.N, CultureInfo.InvariantCulture) * TimeSpan.TicksPerMillisecond,
        _ => long.Parse(sortKey.S.AsSpan(0, 19), CultureInfo.InvariantCulture),
    };

    private string PayloadOf(Dictionary<string, AttributeValue> item)
    {
        if (!item.TryGetValue(_options.DataAttribute, out var value))
        {
            return "null";
        }

        if (value.S is { } text)
        {
            return text;
        }

        if (value.M is { } map)
        {
            return Document.FromAttributeMap(map).ToJson();
        }

        return Document.FromAttributeMap(new Dictionary<string, AttributeValue> { ["v"] = value }).ToJson() is var json
            ? System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("v").GetRawText()
            : "null";
    }

    private static long Number(AttributeValue value) => long.Parse(value.N, CultureInfo.InvariantCulture);

    /// <summary>Ties of equal timestamps sort by a value that grows with every append.</summary>
    private long NextTieBase(int count)
    {
        var now = DateTime.UtcNow.Ticks * 100;
        long current, next;
        do
        {
            current = Interlocked.Read(ref _lastTie);
            next = Math.Max(now, current + 1);
        }
        while (Interlocked.CompareExchange(ref _lastTie, next + count, current) != current);
        return next;
    }

    private async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (ResourceNotFoundException ex)
        {
            throw new StoreUnavailableException($"DynamoDB table '{_options.TableName}' was not found ({ex.Message}). Check Tivo:Store:TableName, or set Tivo:Store:CreateTable=true.", ex);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException or SocketException or TaskCanceledException)
        {
            LogFailed(_logger, ex.Message);
            throw new StoreUnavailableException($"DynamoDB request failed: {ex.Message}", ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "DynamoDB store request failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
