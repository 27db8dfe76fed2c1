using System.Buffers;
using System.Collections.Immutable;
using System.Reflection;
using System.Text.Json;
using Tivo.Gateway.Protocol;
using Tivo.GrainInterfaces;
using Tivo.Testing;
using Xunit;
using YamlDotNet.Serialization;

namespace Tivo.Tests.Gateway;

/// <summary>
/// docs/asyncapi.yaml against the code, so the two cannot drift apart: the controls it lists are the actions the
/// parser accepts, the messages it lists are the types the gateway writes, and its code and status enums are the
/// protocol's. (test/asyncapi validates the document against the AsyncAPI 3.0 schema.)
/// </summary>
public sealed class AsyncApiTests
{
    private static readonly Dictionary<object, object> Document = new DeserializerBuilder().Build()
        .Deserialize<Dictionary<object, object>>(File.ReadAllText(Path.Combine(DynaliteServer.RepositoryRoot(), "docs", "asyncapi.yaml")));

    [Fact]
    public void The_controls_are_the_actions_the_parser_accepts()
    {
        var documented = OperationMessages("control");
        var parsed = ClientCommand.Actions.ToHashSet();
        Assert.Equal(parsed.Order(), documented.Order());
        foreach (var action in documented)
        {
            Assert.True(ClientMessageParser.TryParse(JsonSerializer.SerializeToUtf8Bytes(new { action, to = "2016-01-15T14:32:24Z", speed = 2 }), out var message, out var error), error?.Message);
            Assert.Equal(action, message!.Action);
        }
    }

    [Fact]
    public void The_received_messages_are_the_types_the_gateway_writes()
    {
        var state = new SessionState(SessionStatus.Idle, null, 1, 0, false, null, null, 0, [], null, null, null, null);
        var writers = new Dictionary<string, Action<IBufferWriter<byte>>>
        {
            [nameof(ServerMessageWriter.WriteHello)] = b => ServerMessageWriter.WriteHello(b, "s", ["taxi"], ParticipantRole.Controller, state),
            [nameof(ServerMessageWriter.WriteEvent)] = b => ServerMessageWriter.WriteEvent(b, new SessionEvent("taxi", DateTime.UnixEpoch.Ticks, 1, DateTime.UnixEpoch.Ticks, 1, "{}")),
            [nameof(ServerMessageWriter.WriteState)] = b => ServerMessageWriter.WriteState(b, state),
            [nameof(ServerMessageWriter.WriteClock)] = b => ServerMessageWriter.WriteClock(b, DateTime.UnixEpoch.Ticks, 1, 0),
            [nameof(ServerMessageWriter.WriteLoop)] = b => ServerMessageWriter.WriteLoop(b, 1),
            [nameof(ServerMessageWriter.WriteAck)] = b => ServerMessageWriter.WriteAck(b, null, "play"),
            [nameof(ServerMessageWriter.WriteError)] = b => ServerMessageWriter.WriteError(b, null, ErrorCodes.BadRequest, "x"),
            [nameof(ServerMessageWriter.WriteGap)] = b => ServerMessageWriter.WriteGap(b, 5, 9, "x"),
            [nameof(ServerMessageWriter.WriteBatch)] = b => ServerMessageWriter.WriteBatch(b,
                [new Delivery<ReadOnlyMemory<byte>>(1, null, new ClockSignal(DateTime.UnixEpoch.Ticks, 1, DateTime.UnixEpoch.Ticks, 1, 0), default, false)], DateTime.UnixEpoch.Ticks),
            [nameof(ServerMessageWriter.WriteRecall)] = b => ServerMessageWriter.WriteRecall(b, DateTime.UnixEpoch.Ticks),
        };

        // A new kind of server message (a new Write method) must be added here and to docs/asyncapi.yaml.
        var methods = typeof(ServerMessageWriter).GetMethods(BindingFlags.Public | BindingFlags.Static).Select(m => m.Name).Where(n => n.StartsWith("Write", StringComparison.Ordinal)).ToHashSet();
        Assert.Equal(methods.Order(), writers.Keys.Order());

        var written = writers.Values.Select(write =>
        {
            var buffer = new ArrayBufferWriter<byte>();
            write(buffer);
            return JsonDocument.Parse(buffer.WrittenMemory).RootElement.GetProperty("type").GetString()!;
        }).ToHashSet();
        Assert.Equal(written.Order(), OperationMessages("watch").Order());
    }

    [Fact]
    public void The_error_codes_and_statuses_are_the_protocols()
    {
        var messages = Map(Map(Document["components"])["messages"]);
        var code = Map(Map(Map(Map(messages["error"])["payload"])["properties"])["code"]);
        Assert.Equal(Constants(typeof(ErrorCodes)).Order(), Strings(code["enum"]).Order());

        var schemas = Map(Map(Document["components"])["schemas"]);
        var status = Map(Map(Map(schemas["State"])["properties"])["status"]);
        Assert.Equal(WireNames.Statuses.Order(), Strings(status["enum"]).Order());
    }

    /// <summary>The names of the messages an operation lists (references into its channel's messages).</summary>
    private static List<string> OperationMessages(string operation) =>
        [.. Items(Map(Map(Document["operations"])[operation])["messages"]).Cast<Dictionary<object, object>>().Select(r => ((string)r["$ref"]).Split('/')[^1])];

    private static ImmutableArray<string> Constants(Type type) =>
        [.. type.GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!)];

    private static Dictionary<object, object> Map(object node) => (Dictionary<object, object>)node;

    private static List<object> Items(object node) => (List<object>)node;

    private static List<string> Strings(object node) => [.. Items(node).Cast<string>()];
}
