namespace Tivo.Grains;

/// <summary>
/// The sizes a silo's memory bounds are kept by, in one place. Payloads are .NET strings (2 bytes per char);
/// the overheads are measured object sizes on 64-bit .NET rounded up.
/// </summary>
internal static class MemoryEstimates
{
    /// <summary>A cached <c>ChunkEvent</c>: the struct in its array plus the string's header.</summary>
    public const int ChunkEventOverhead = 48;

    /// <summary>An event in a session's replay log: its 56-byte entry in the log's segments (the ends of which may be
    /// partly empty) and the payload string's header.</summary>
    public const int SessionEventOverhead = 96;

    public static long ChunkEventBytes(int payloadChars) => ChunkEventOverhead + 2L * payloadChars;

    public static long SessionEventBytes(int payloadChars) => SessionEventOverhead + 2L * payloadChars;
}
