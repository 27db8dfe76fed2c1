using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Tivo.Silo.Hosting;

/// <summary>How this process takes part in the Orleans cluster, bound from <c>Tivo:Orleans</c>.</summary>
public sealed class TivoOrleansOptions
{
    public const string SectionName = "Tivo:Orleans";

    /// <summary>Gateway only: <c>Embedded</c> (default: co-host a silo in this process) or <c>Client</c>
    /// (connect to silos started with the silo project).</summary>
    public string Mode { get; set; } = OrleansModes.Embedded;

    /// <summary>Orleans cluster id; silos and gateways of one deployment share it.</summary>
    public string ClusterId { get; set; } = "tivo";

    /// <summary>Orleans service id; stable across deployments.</summary>
    public string ServiceId { get; set; } = "tivo";

    /// <summary>Silo-to-silo port.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port Orleans clients (gateways) connect to.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Client mode with static clustering: silo gateway endpoints, e.g. <c>127.0.0.1:30000</c>.</summary>
    public List<string> Gateways { get; set; } = [];

    /// <summary>Where session state is kept: <c>Memory</c> (default; a session ends with its silo) or
    /// <c>AdoNet</c> (PostgreSQL through Microsoft.Orleans.Persistence.AdoNet; a session outlives its silo).</summary>
    public string Persistence { get; set; } = PersistenceKinds.Memory;

    /// <summary>Npgsql connection string of the persistence database (<c>AdoNet</c>). Never logged.</summary>
    public string? PersistenceConnectionString { get; set; }

    /// <summary>Create the persistence tables at silo start when missing.</summary>
    public bool CreatePersistenceSchema { get; set; }
}

/// <summary>Values of <see cref="TivoOrleansOptions.Persistence"/>.</summary>
public static class PersistenceKinds
{
    public const string Memory = "Memory";
    public const string AdoNet = "AdoNet";
}

/// <summary>Values of <see cref="TivoOrleansOptions.Mode"/>.</summary>
public static class OrleansModes
{
    public const string Embedded = "Embedded";
    public const string Client = "Client";
}

/// <summary>Validates <see cref="TivoOrleansOptions"/> with messages naming the setting.</summary>
public sealed class TivoOrleansOptionsValidator : IValidateOptions<TivoOrleansOptions>
{
    public ValidateOptionsResult Validate(string? name, TivoOrleansOptions o)
    {
        var errors = new List<string>();
        if (!string.Equals(o.Mode, OrleansModes.Embedded, StringComparison.OrdinalIgnoreCase)
            && !string.Equals(o.Mode, OrleansModes.Client, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"Tivo:Orleans:Mode is '{o.Mode}'; use Embedded (silo in this process) or Client (connect to silos).");
        }

        if (o.SiloPort is < 1 or > 65535 || o.GatewayPort is < 1 or > 65535)
        {
            errors.Add($"Tivo:Orleans:SiloPort ({o.SiloPort}) and Tivo:Orleans:GatewayPort ({o.GatewayPort}) must be TCP ports (1–65535).");
        }

        foreach (var gateway in o.Gateways)
        {
            if (!System.Net.IPEndPoint.TryParse(gateway, out var ep) || ep.Port == 0)
            {
                errors.Add($"Tivo:Orleans:Gateways entry '{gateway}' is not an IP endpoint such as 127.0.0.1:30000.");
            }
        }

        if (string.Equals(o.Mode, OrleansModes.Client, StringComparison.OrdinalIgnoreCase) && o.Gateways.Count == 0)
        {
            errors.Add("Tivo:Orleans:Mode is Client but Tivo:Orleans:Gateways is empty: list the silo gateway endpoints, e.g. Tivo__Orleans__Gateways__0=127.0.0.1:30000.");
        }

        if (!string.Equals(o.Persistence, PersistenceKinds.Memory, StringComparison.OrdinalIgnoreCase)
            && !string.Equals(o.Persistence, PersistenceKinds.AdoNet, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"Tivo:Orleans:Persistence is '{o.Persistence}'; use Memory or AdoNet.");
        }

        if (string.Equals(o.Persistence, PersistenceKinds.AdoNet, StringComparison.OrdinalIgnoreCase) && string.IsNullOrWhiteSpace(o.PersistenceConnectionString))
        {
            errors.Add("Tivo:Orleans:Persistence is AdoNet but Tivo:Orleans:PersistenceConnectionString is empty: give the PostgreSQL connection string.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Registers <see cref="TivoOrleansOptions"/> with its validation at start: the silo host and the gateway
/// (embedded or client) fail alike on a bad <c>Tivo:Orleans</c> setting, naming it.</summary>
public static class TivoOrleansOptionsServiceCollectionExtensions
{
    public static IServiceCollection AddTivoOrleansOptions(this IServiceCollection services)
    {
        services.AddOptions<TivoOrleansOptions>().BindConfiguration(TivoOrleansOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TivoOrleansOptions>, TivoOrleansOptionsValidator>());
        return services;
    }
}
