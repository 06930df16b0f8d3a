using System.Text;
using System.Text.Json;

namespace RecurrentGemma.Tests.Support;

/// <summary>Plain-HTTP helpers for server tests: a JSON body, and the OpenAI error object of a refused request.</summary>
public static class ServerHttp
{
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("error").Clone();
    }
}
