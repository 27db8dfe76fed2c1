using Tivo.Bench;

// Tivo's benchmarks print figures; they are never pass/fail tests. See docs/performance.md.
//   dotnet run -c Release --project bench/Tivo.Bench -- all [--smoke] [--out FILE]
//   dotnet run -c Release --project bench/Tivo.Bench -- delivery|first-event|sharing|memory|drift|hostile|failover|live|export|stores|micro [options]
//   dotnet run -c Release --project bench/Tivo.Bench -- --help   (each benchmark's options: <benchmark> --help)
if (args is [FloorServer.Command, ..])
{
    return await FloorServer.RunAsync(args); // the floor peer's own process, started by the delivery benchmark
}

return await BenchCommands.Build().Parse(args).InvokeAsync();
