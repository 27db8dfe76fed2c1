using Tivo.Events;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tivo.GrainInterfaces.Hosting;
using Tivo.Silo.Hosting;
using Tivo.Stores;
using Tivo.Events.Ingest;

namespace Tivo.Silo;

/// <summary>
/// <c>Tivo.Silo import FILE --channel NAME [--time-column COLUMN] [--format csv|ndjson|json]</c>:
/// loads a CSV or NDJSON/JSON file into the configured store (the same <c>Tivo:Store</c> settings as
/// the silo). The whole file is validated first; nothing is written if any line is bad.
/// </summary>
public static class ImportCommand
{
    public static readonly string Usage =
        "usage: Tivo.Silo import FILE --channel NAME [--time-column COLUMN] [--format csv|ndjson|json] [--strings] [--Tivo:Store:…=…]\n" +
        "  CSV: a header row; --time-column (default ts) holds ISO-8601 times or epoch milliseconds; the other columns become the payload.\n" +
        "       A value becomes a number only if nothing about it would change (not 02134, +1, 1e5 or long digit strings);\n" +
        "       true/false in any case are booleans; --strings keeps every value a string.\n" +
        "  The store: Tivo:Store settings as for the silo; the embedded default is " + Tivo.Stores.Embedded.EmbeddedStoreOptions.DefaultPath + ".\n" +
        "  NDJSON/JSON: {\"ts\": …, \"data\": …} per line, or a JSON array of them.";

    /// <summary>Runs the import; returns the process exit code (0 done, 1 bad arguments or input, 2 store failure).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        string? file = null, channel = null, format = null;
        var timeColumn = "ts";
        var keepStrings = false;
        var rest = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            try
            {
                switch (args[i])
                {
                    case "--channel": channel = Value(); break;
                    case "--time-column": timeColumn = Value(); break;
                    case "--format": format = Value().ToLowerInvariant(); break;
                    case "--strings": keepStrings = true; break;
                    case "-h" or "--help":
                        await output.WriteLineAsync(Usage);
                        return 0;
                    case var a when a.StartsWith("--", StringComparison.Ordinal):
                        rest.Add(a);
                        if (!a.Contains('=', StringComparison.Ordinal) && i + 1 < args.Length)
                        {
                            rest.Add(args[++i]);
                        }

                        break;
                    default:
                        if (file is not null)
                        {
                            throw new ArgumentException($"Only one file per import: '{file}' and '{args[i]}' were given.");
                        }

                        file = args[i];
                        break;
                }
            }
            catch (ArgumentException ex)
            {
                await error.WriteLineAsync($"import: {ex.Message}\n{Usage}");
                return 1;
            }
        }

        if (file is null || string.IsNullOrWhiteSpace(channel))
        {
            await error.WriteLineAsync($"import: {(file is null ? "name the file to import" : "--channel is required")}.\n{Usage}");
            return 1;
        }

        if (!File.Exists(file))
        {
            await error.WriteLineAsync($"import: '{file}' does not exist.");
            return 1;
        }

        format ??= Path.GetExtension(file).ToLowerInvariant() switch
        {
            ".csv" => "csv",
            ".json" => "json",
            _ => "ndjson",
        };
        if (format is not ("csv" or "ndjson" or "json"))
        {
            await error.WriteLineAsync($"import: --format '{format}' is not one of csv, ndjson, json.");
            return 1;
        }

        List<StoredEvent> events;
        try
        {
            events = format == "csv"
                ? EventFileReader.ReadCsv(new StreamReader(file), timeColumn, keepStrings)
                : EventFileReader.ReadJson(await File.ReadAllBytesAsync(file));
        }
        catch (IngestFormatException ex)
        {
            await error.WriteLineAsync($"import: nothing was written: {file}, {ex.Message}");
            return 1;
        }

        // An import into a fresh embedded file should hold the file's events only.
        var settings = new List<string> { "--Tivo:Store:SeedDemoData=false" };
        settings.AddRange(rest);
        var builder = Host.CreateApplicationBuilder([.. settings]);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.None); // "Application started…" is noise in a one-shot command
        builder.Logging.AddFilter("Tivo.Stores", LogLevel.Warning); // the store is named in the result line instead
        builder.Services.AddTivoGrainServices(builder.Configuration);
        using var host = builder.Build();
        var stopwatch = Stopwatch.StartNew();
        var written = 0;
        var where = "the store";
        try
        {
            await host.StartAsync();
            var store = host.Services.GetRequiredService<IEventStore>();
            where = store is Tivo.Stores.Embedded.SqliteEventStore sqlite ? $"the embedded store {sqlite.FilePath}" : $"the {store.GetType().Name.Replace("EventStore", "", StringComparison.Ordinal)} store";
            const int batch = 50_000;
            for (var offset = 0; offset < events.Count; offset += batch)
            {
                var part = events.GetRange(offset, Math.Min(batch, events.Count - offset));
                await store.AppendAsync(channel, part, CancellationToken.None);
                written += part.Count;
            }

            await host.StopAsync();
        }
        catch (Exception ex) when (ex is StoreUnavailableException or NotSupportedException or Microsoft.Extensions.Options.OptionsValidationException)
        {
            await error.WriteLineAsync($"import: stopped after {written} of {events.Count} events were written ({(written == 0 ? "nothing was written" : "the rest was not")}): {ex.Message}");
            return 2;
        }

        if (events.Count == 0)
        {
            await output.WriteLineAsync($"import: {file} holds no events; nothing to do.");
            return 0;
        }

        await output.WriteLineAsync(
            $"Imported {events.Count} events into channel '{channel}' ({TimeUtil.ToIso(events.Min(e => e.Ticks))} .. {TimeUtil.ToIso(events.Max(e => e.Ticks))}) in {stopwatch.ElapsedMilliseconds} ms; {where}.");
        return 0;
    }
}
