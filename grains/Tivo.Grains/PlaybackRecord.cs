namespace Tivo.Grains;

/// <summary>
/// What a session persists so that it outlives its silo: the window, pacing and the clock's anchor
/// (an absolute wall time, so the clock runs on while no silo holds the session), plus counters that
/// must never go backwards. Written at every control; seq numbers are reserved in blocks so a restored
/// session never reuses one.
/// </summary>
[GenerateSerializer, Alias("tivo.PlaybackRecord")]
public sealed class PlaybackRecord
{
    [Id(0)] public string Status { get; set; } = "idle";
    [Id(1)] public string[] Channels { get; set; } = [];
    [Id(2)] public long WindowStart { get; set; }
    [Id(3)] public long WindowEnd { get; set; }
    [Id(4)] public bool Loop { get; set; }
    [Id(5)] public double Speed { get; set; } = 1;
    [Id(6)] public double? Duration { get; set; }
    [Id(7)] public double? Rate { get; set; }
    [Id(8)] public double? MaxGap { get; set; }
    [Id(9)] public long WallAnchor { get; set; }
    [Id(10)] public double PosAnchor { get; set; }
    [Id(11)] public long Epoch { get; set; }
    [Id(12)] public long SeqReservedUntil { get; set; } = 1;
    [Id(13)] public long Order { get; set; }
    [Id(14)] public bool Live { get; set; }
}
