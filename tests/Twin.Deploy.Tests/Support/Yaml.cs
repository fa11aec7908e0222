using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Twin.Deploy.Tests.Support;

/// <summary>
/// YAML (one or many documents) as <see cref="JsonNode"/> trees. Every scalar becomes a string, as
/// YAML leaves its type to the reader: <c>"1883"</c> and <c>1883</c> read the same.
/// </summary>
internal static class Yaml
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder().Build();

    public static List<JsonNode?> ParseDocuments(string text)
    {
        var parser = new Parser(new StringReader(text));
        parser.Consume<StreamStart>();
        var documents = new List<JsonNode?>();
        while (parser.Accept<DocumentStart>(out _))
        {
            documents.Add(ToJson(Deserializer.Deserialize<object?>(parser)));
        }

        return documents;
    }

    public static JsonNode? Parse(string text) => ParseDocuments(text) switch
    {
        [var single] => single,
        var many => throw new InvalidDataException($"Expected one YAML document, found {many.Count}."),
    };

    private static JsonNode? ToJson(object? value) => value switch
    {
        null => null,
        IDictionary<object, object?> map => new JsonObject(map.Select(e => KeyValuePair.Create(
            Convert.ToString(e.Key, CultureInfo.InvariantCulture) ?? "", ToJson(e.Value)))),
        IList<object?> list => new JsonArray([.. list.Select(ToJson)]),
        _ => JsonValue.Create(Convert.ToString(value, CultureInfo.InvariantCulture)),
    };
}
