using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Tivo.GrainInterfaces.Hosting;

/// <summary>How this process takes part in the Orleans cluster, bound from <c>Tivo:Orleans</c>.</summary>
public sealed class TivoOrleansOptions
{
    public const string SectionName = "Tivo:Orleans";

    /// <summary>Gateway only: <c>Embedded</c> (default: co-host a silo in this process) or <c>Client</c>
    /// (connect to silos started with the silo project).</summary>
    public OrleansMode Mode { get; set; } = OrleansMode.Embedded;

    /// <summary>Orleans cluster id; silos and gateways of one deployment share it.</summary>
    public string ClusterId { get; set; } = "tivo";

    /// <summary>Orleans service id; stable across deployments.</summary>
    public string ServiceId { get; set; } = "tivo";

    /// <summary>Silo-to-silo port.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port Orleans clients (gateways) connect to.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>How silos and gateways find each other: <c>Localhost</c> (default: one machine; gateways list silos in
    /// <see cref="Gateways"/>) or <c>AdoNet</c> (Orleans' ADO.NET membership table on PostgreSQL; gateways read the
    /// silos from it).</summary>
    public ClusteringKind Clustering { get; set; } = ClusteringKind.Localhost;

    /// <summary>Npgsql connection string of the membership database (<c>AdoNet</c>); defaults to
    /// <see cref="PersistenceConnectionString"/>. Never logged.</summary>
    public string? ClusteringConnectionString { get; set; }

    /// <summary>Create the membership tables at silo start when missing (safe with several silos starting at once).</summary>
    public bool CreateClusteringSchema { get; set; }

    /// <summary>The address a silo advertises to the cluster (<c>AdoNet</c>): on Kubernetes the pod's IP. Unset: the
    /// machine's first non-loopback IPv4 address. Silos listen on every address.</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>The silo's name in the membership table and in <c>status</c>'s <c>host</c>; defaults to the machine
    /// name (the pod's name on Kubernetes).</summary>
    public string? SiloName { get; set; }

    /// <summary>Silos only: Orleans' Kubernetes hosting (Microsoft.Orleans.Hosting.Kubernetes): the silo takes its name,
    /// address and cluster identity from the pod (POD_NAME, POD_IP, POD_NAMESPACE, ORLEANS_CLUSTER_ID, ORLEANS_SERVICE_ID)
    /// and watches the silo pods through the Kubernetes API, declaring a silo dead as soon as its pod is deleted. Membership
    /// stays in the ADO.NET table. Needs the RBAC of deploy/kubernetes/rbac.yaml.</summary>
    public bool KubernetesHosting { get; set; }

    /// <summary>How fast a dead silo is found, and how fast gateways learn of silos (<c>Tivo:Orleans:Membership</c>).</summary>
    public MembershipTimingOptions Membership { get; set; } = new();

    /// <summary>Localhost clustering, client mode: silo gateway endpoints, e.g. <c>127.0.0.1:30000</c>.</summary>
    public List<string> Gateways { get; set; } = [];

    /// <summary>The membership database's connection string: <see cref="ClusteringConnectionString"/>, else the persistence one.</summary>
    public string? EffectiveClusteringConnectionString => string.IsNullOrWhiteSpace(ClusteringConnectionString) ? PersistenceConnectionString : ClusteringConnectionString;

    /// <summary>Where session state is kept: <c>Memory</c> (default; a session ends with its silo) or
    /// <c>AdoNet</c> (PostgreSQL through Microsoft.Orleans.Persistence.AdoNet; a session outlives its silo).</summary>
    public PersistenceKind Persistence { get; set; } = PersistenceKind.Memory;

    /// <summary>Npgsql connection string of the persistence database (<c>AdoNet</c>). Never logged.</summary>
    public string? PersistenceConnectionString { get; set; }

    /// <summary>Create the persistence tables at silo start when missing.</summary>
    public bool CreatePersistenceSchema { get; set; }

    /// <summary>Reads <c>Tivo:Orleans</c> for a host deciding how to build itself (before options are resolved).</summary>
    /// <exception cref="OptionsValidationException">A setting names no value of its kind; the message lists those that exist.</exception>
    public static TivoOrleansOptions Read(IConfiguration configuration)
    {
        var options = new TivoOrleansOptions();
        BindChecked(configuration, options);
        return options;
    }

    /// <summary>Binds <c>Tivo:Orleans</c> onto <paramref name="options"/>, refusing names that are no value of their kind
    /// with a message listing those that are (the binder alone would throw naming only the type).</summary>
    internal static void BindChecked(IConfiguration configuration, TivoOrleansOptions options)
    {
        var section = configuration.GetSection(SectionName);
        var errors = new List<string>();
        ConfiguredNames.Check<OrleansMode>(section, nameof(Mode), errors);
        ConfiguredNames.Check<PersistenceKind>(section, nameof(Persistence), errors);
        ConfiguredNames.Check<ClusteringKind>(section, nameof(Clustering), errors);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(SectionName, typeof(TivoOrleansOptions), errors);
        }

        section.Bind(options);
    }
}

/// <summary>Checks that configured names (case-insensitive) are values of an enum, before binding.</summary>
public static class ConfiguredNames
{
    /// <summary>Adds an error to <paramref name="errors"/> when <paramref name="section"/>'s <paramref name="key"/> is set
    /// to anything but a name of <typeparamref name="TEnum"/> (numbers are refused too).</summary>
    public static void Check<TEnum>(IConfigurationSection section, string key, List<string> errors)
        where TEnum : struct, Enum
    {
        if (section[key] is not { } text)
        {
            return;
        }

        if (!Enum.GetNames<TEnum>().Contains(text.Trim(), StringComparer.OrdinalIgnoreCase))
        {
            var names = Enum.GetNames<TEnum>();
            var choices = names.Length == 2 ? $"{names[0]} or {names[1]}" : $"one of {string.Join(", ", names)}";
            errors.Add($"{section.Path}:{key} is '{text}'; use {choices}.");
        }
    }
}

/// <summary>Membership timing, bound from <c>Tivo:Orleans:Membership</c>. Orleans' own defaults take 20 s or more to
/// declare a killed silo dead; these find it in about 5 s (two missed 2-second probes and two votes), which bounds how
/// long the sessions it held pause.</summary>
public sealed class MembershipTimingOptions
{
    /// <summary>How long a silo waits for a probe's answer (Orleans <c>ProbeTimeout</c>; its default is 5 s).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Missed probes before a silo suspects another (Orleans <c>NumMissedProbesLimit</c>; default 3).</summary>
    public int NumMissedProbesLimit { get; set; } = 2;

    /// <summary>How often a silo re-reads the membership table (Orleans <c>TableRefreshTimeout</c>; default 60 s).</summary>
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a silo writes that it is alive (Orleans <c>IAmAliveTablePublishTimeout</c>; default 30 s).</summary>
    public TimeSpan IAmAliveTablePublishTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a gateway re-reads the list of silos it may connect to (Orleans <c>GatewayListRefreshPeriod</c>; default 60 s).</summary>
    public TimeSpan GatewayListRefreshPeriod { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>How silos and gateways find each other (<see cref="TivoOrleansOptions.Clustering"/>).</summary>
public enum ClusteringKind
{
    /// <summary>One machine: a silo is its own primary; gateways name the silos.</summary>
    Localhost,

    /// <summary>Orleans' ADO.NET membership table on PostgreSQL (Microsoft.Orleans.Clustering.AdoNet).</summary>
    AdoNet,
}

/// <summary>Where sessions keep their state (<see cref="TivoOrleansOptions.Persistence"/>).</summary>
public enum PersistenceKind
{
    /// <summary>In the silo's memory: a session ends with its silo.</summary>
    Memory,

    /// <summary>PostgreSQL through Microsoft.Orleans.Persistence.AdoNet: a session outlives its silo.</summary>
    AdoNet,
}

/// <summary>How a gateway reaches the grains (<see cref="TivoOrleansOptions.Mode"/>).</summary>
public enum OrleansMode
{
    /// <summary>A silo in the gateway's own process (one process on a laptop).</summary>
    Embedded,

    /// <summary>An Orleans client of silos started on their own.</summary>
    Client,
}

/// <summary>Validates <see cref="TivoOrleansOptions"/> with messages naming the setting.</summary>
public sealed class TivoOrleansOptionsValidator : IValidateOptions<TivoOrleansOptions>
{
    public ValidateOptionsResult Validate(string? name, TivoOrleansOptions o)
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(o.Mode))
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

        if (o.Mode == OrleansMode.Client && o.Clustering == ClusteringKind.Localhost && o.Gateways.Count == 0)
        {
            errors.Add("Tivo:Orleans:Mode is Client but Tivo:Orleans:Gateways is empty: list the silo gateway endpoints, e.g. Tivo__Orleans__Gateways__0=127.0.0.1:30000, or use Tivo:Orleans:Clustering=AdoNet.");
        }

        if (o.Clustering == ClusteringKind.AdoNet && string.IsNullOrWhiteSpace(o.EffectiveClusteringConnectionString))
        {
            errors.Add("Tivo:Orleans:Clustering is AdoNet but neither Tivo:Orleans:ClusteringConnectionString nor Tivo:Orleans:PersistenceConnectionString is set: give the PostgreSQL connection string of the membership table.");
        }

        if (o.AdvertisedAddress is { Length: > 0 } advertised && !System.Net.IPAddress.TryParse(advertised, out _))
        {
            errors.Add($"Tivo:Orleans:AdvertisedAddress '{advertised}' is not an IP address; on Kubernetes set it from the pod's status.podIP.");
        }

        var m = o.Membership;
        if (m.ProbeTimeout <= TimeSpan.Zero || m.NumMissedProbesLimit < 1 || m.TableRefreshTimeout <= TimeSpan.Zero
            || m.IAmAliveTablePublishTimeout <= TimeSpan.Zero || m.GatewayListRefreshPeriod <= TimeSpan.Zero)
        {
            errors.Add("Tivo:Orleans:Membership: ProbeTimeout, TableRefreshTimeout, IAmAliveTablePublishTimeout and GatewayListRefreshPeriod must be positive durations and NumMissedProbesLimit at least 1.");
        }

        if (!Enum.IsDefined(o.Persistence))
        {
            errors.Add($"Tivo:Orleans:Persistence is '{o.Persistence}'; use Memory or AdoNet.");
        }

        if (o.Persistence == PersistenceKind.AdoNet && string.IsNullOrWhiteSpace(o.PersistenceConnectionString))
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
        services.AddOptions<TivoOrleansOptions>().Configure<IConfiguration>((o, c) => TivoOrleansOptions.BindChecked(c, o)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TivoOrleansOptions>, TivoOrleansOptionsValidator>());
        return services;
    }
}
