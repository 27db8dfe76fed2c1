namespace Tivo.Events;

/// <summary>One event: its UTC time in ticks and its payload as raw JSON text. What a store reads and writes and
/// what an ingest file holds.</summary>
public readonly record struct StoredEvent(long Ticks, string Data);
