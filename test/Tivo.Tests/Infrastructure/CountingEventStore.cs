using Tivo.Events;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Tivo.Stores;

namespace Tivo.Tests.Infrastructure;

/// <summary>
/// Wraps a real store and counts the window reads it receives, keyed by (channel, from), so tests
/// can check that N sessions cost one store query per chunk. Reads can be held at a gate to force
/// concurrent requests for the same chunk, or fail as an unreachable store does (<see cref="Unavailable"/>).
/// </summary>
internal sealed class CountingEventStore(IEventStore inner) : IEventStore
{
    private readonly ConcurrentQueue<(string Channel, long From, long To)> _ranges = new();
    private volatile TaskCompletionSource? _gate;

    /// <summary>Every window read so far: channel and [from, to) in ticks.</summary>
    public IReadOnlyList<(string Channel, long From, long To)> Ranges => [.. _ranges];

    public void HoldReads() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ReleaseReads()
    {
        var gate = _gate;
        _gate = null;
        gate?.TrySetResult();
    }

    /// <summary>While set, every read and listing fails with <see cref="StoreUnavailableException"/> naming it.</summary>
    public string? Unavailable { get; set; }

    private void ThrowIfUnavailable()
    {
        if (Unavailable is { } reason)
        {
            throw new StoreUnavailableException(reason);
        }
    }

    public bool SupportsAppend => inner.SupportsAppend;

    public async IAsyncEnumerable<StoredEvent> ReadAsync(string channel, long fromTicks, long toTicks, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        _ranges.Enqueue((channel, fromTicks, toTicks));
        if (_gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        await foreach (var e in inner.ReadAsync(channel, fromTicks, toTicks, cancellationToken))
        {
            yield return e;
        }
    }

    public Task<IReadOnlyList<ChannelExtent>> ListChannelsAsync(CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        return inner.ListChannelsAsync(cancellationToken);
    }

    public Task<IReadOnlyList<SecondCount>> CountPerSecondAsync(string channel, long fromSecond, long toSecond, CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        return inner.CountPerSecondAsync(channel, fromSecond, toSecond, cancellationToken);
    }

    public Task AppendAsync(string channel, IReadOnlyList<StoredEvent> events, CancellationToken cancellationToken) =>
        inner.AppendAsync(channel, events, cancellationToken);
}
