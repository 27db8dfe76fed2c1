using Microsoft.Extensions.Options;

namespace Tivo.Stores.Embedded;

/// <summary>Settings of the embedded SQLite store, bound from <c>Tivo:Store</c>.</summary>
public sealed class EmbeddedStoreOptions
{
    /// <summary>Path of the SQLite file (<c>Tivo__Store__Path</c>); relative paths are taken from the
    /// working directory. The folder is created when missing. Default: <see cref="DefaultPath"/>.</summary>
    public string Path { get; set; } = DefaultPath;

    /// <summary>
    /// The one default file, whatever the working directory, so that <c>import</c> and the server started from
    /// anywhere use the same store: <c>tivo/tivo.db</c> under the user's local data folder
    /// (<c>$XDG_DATA_HOME</c> or <c>~/.local/share</c> on Linux, <c>~/Library/Application Support</c> on macOS,
    /// <c>%LOCALAPPDATA%</c> on Windows); <c>data/tivo.db</c> under the working directory only where the
    /// system names no such folder (a process without a home).
    /// </summary>
    public static string DefaultPath { get; } = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify) is { Length: > 0 } folder
        ? System.IO.Path.Combine(folder, "tivo", "tivo.db")
        : System.IO.Path.Combine("data", "tivo.db");

    /// <summary>Seed the deterministic demo data set when the file holds no events (<c>Tivo__Store__SeedDemoData</c>).</summary>
    public bool SeedDemoData { get; set; } = true;
}

/// <summary>Checks <see cref="EmbeddedStoreOptions"/> at start so a bad path fails with a message naming the setting.</summary>
public sealed class EmbeddedStoreOptionsValidator : IValidateOptions<EmbeddedStoreOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, EmbeddedStoreOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Path))
        {
            return ValidateOptionsResult.Fail("Tivo:Store:Path is empty: set it (or Tivo__Store__Path) to the SQLite file to use, e.g. data/tivo.db.");
        }

        if (options.Path.IndexOfAny(System.IO.Path.GetInvalidPathChars()) >= 0)
        {
            return ValidateOptionsResult.Fail($"Tivo:Store:Path '{options.Path}' contains characters that are not allowed in a path.");
        }

        return ValidateOptionsResult.Success;
    }
}
