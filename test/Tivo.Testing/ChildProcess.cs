using System.Diagnostics;

namespace Tivo.Testing;

/// <summary>What every server the tests and the benchmark start as a child process needs at the end.</summary>
public static class ChildProcess
{
    /// <summary>Kills <paramref name="process"/> with its children, waits for it, disposes it and deletes
    /// its scratch <paramref name="folder"/> (best effort: a file still held open is left behind).</summary>
    public static async Task StopAsync(Process? process, string? folder = null)
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process?.Dispose();
        if (folder is not null)
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
