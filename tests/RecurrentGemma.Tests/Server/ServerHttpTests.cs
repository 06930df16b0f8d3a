using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Server;
using RecurrentGemma.Tests.Support;
using Xunit;
using static RecurrentGemma.Tests.Support.ServerHttp;

namespace RecurrentGemma.Tests.Server;

/// <summary>The server's HTTP behaviour: health while loading, auth, limits, errors, metrics, tokenize, CORS, draining, completions.</summary>
public sealed class ServerHttpTests
{
    const string Chat = """{"messages": [{"role": "user", "content": "Hail!"}], "max_tokens": 8, "temperature": 0}""";

    [Fact]
    public async Task Health_is_503_until_the_model_is_loaded()
    {
        using var gate = new ManualResetEventSlim();
        await using var server = await TestServer.StartAsync(null, scheduler =>
        {
            gate.Wait(TimeSpan.FromSeconds(30));
            return TextGenerator.Open(TestData.DemoModel, schedulerOptions: scheduler);
        }, waitReady: false);
        var health = await server.Http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        var early = await server.Http.PostAsync("/v1/chat/completions", Json(Chat));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, early.StatusCode);
        Assert.Equal("model_loading", (await ErrorOf(early)).GetProperty("code").GetString());
        Assert.NotNull(early.Headers.RetryAfter);
        gate.Set();
        await server.Server.Host.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task With_an_api_key_every_route_but_health_and_metrics_needs_it()
    {
        await using var server = await TestServer.StartAsync(new ServerOptions { ApiKey = "s3cret" });
        foreach (var path in new[] { "/v1/models", "/v1/chat/completions", "/tokenize" })
        {
            var request = new HttpRequestMessage(path == "/v1/models" ? HttpMethod.Get : HttpMethod.Post, path) { Content = Json(Chat) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
            var response = await server.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("authentication_error", (await ErrorOf(response)).GetProperty("type").GetString());
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Http.PostAsync("/v1/chat/completions", Json(Chat))).StatusCode);
        // The chat page opens without the key (it asks for it), and keeps to this server.
        var page = await server.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Contains("<title>rgemma chat</title>", await page.Content.ReadAsStringAsync());
        Assert.Contains("connect-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/metrics")).StatusCode);
        var models = await server.Client("s3cret").GetOpenAIModelClient().GetModelsAsync();
        Assert.Single(models.Value);
        var wrong = await Assert.ThrowsAsync<System.ClientModel.ClientResultException>(() => server.Chat("nope").CompleteChatAsync("hi"));
        Assert.Equal(401, wrong.Status);
        Assert.False(string.IsNullOrEmpty((await server.Chat("s3cret").CompleteChatAsync("hi")).Value.Content[0].Text));
    }

    [Fact]
    public async Task Limits_answer_413_429_400_and_404_as_OpenAI_errors()
    {
        await using var server = await TestServer.StartAsync(new ServerOptions { MaxBodyBytes = 4096, MaxSequences = 1, MaxQueue = 0, MaxPromptTokens = 64 });
        var big = await server.Http.PostAsync("/v1/chat/completions", Json($$"""{"messages": [{"role": "user", "content": "{{new string('a', 8000)}}"}]}"""));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
        Assert.Equal("request_too_large", (await ErrorOf(big)).GetProperty("code").GetString());

        var longPrompt = await server.Http.PostAsync("/v1/chat/completions", Json($$"""{"messages": [{"role": "user", "content": "{{string.Concat(Enumerable.Repeat("to be or not ", 40))}}"}]}"""));
        Assert.Equal(HttpStatusCode.BadRequest, longPrompt.StatusCode);
        Assert.Equal("context_length_exceeded", (await ErrorOf(longPrompt)).GetProperty("code").GetString());

        // One slot, no queue: while a long stream runs, the next request is refused at once.
        var streaming = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json("""{"messages": [{"role": "user", "content": "Hail!"}], "max_tokens": 4096, "temperature": 0, "stream": true}"""),
        };
        using (var running = await server.Http.SendAsync(streaming, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, running.StatusCode);
            var refused = await server.Http.PostAsync("/v1/chat/completions", Json(Chat));
            Assert.Equal((HttpStatusCode)429, refused.StatusCode);
            Assert.Equal("queue_full", (await ErrorOf(refused)).GetProperty("code").GetString());
            Assert.NotNull(refused.Headers.RetryAfter);
        }
        await server.WaitIdleAsync();
        Assert.Equal(HttpStatusCode.OK, (await server.Http.PostAsync("/v1/chat/completions", Json(Chat))).StatusCode);

        foreach (var (body, field) in new[]
        {
            ("""{"messages": [{"role": "user", "content": "x"}], "top_p": 0}""", "top_p"),
            ("""{"messages": [{"role": "user", "content": "x"}], "n": 2}""", "n"),
            ("""{"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]}""", "stop"),
            ("""{"messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}""", "max_tokens"),
            ("""{"messages": [{"role": "tool", "content": "x"}]}""", "messages[0].role"),
            ("""{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}""", "top_logprobs"),
            ("""{"messages": "hi"}""", "messages"),
            ("""{"messages": [{"role": "user", "content": "x"}], "presence_penalty": 2.5}""", "presence_penalty"),
        })
        {
            var response = await server.Http.PostAsync("/v1/chat/completions", Json(body));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var error = await ErrorOf(response);
            Assert.Equal(field, error.GetProperty("param").GetString());
            Assert.StartsWith(field, error.GetProperty("message").GetString());
        }
        var notJson = await server.Http.PostAsync("/v1/chat/completions", Json("{not json"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        var missing = await server.Http.GetAsync("/v2/anything");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("not_found", (await ErrorOf(missing)).GetProperty("code").GetString());
        var metrics = await server.Http.GetStringAsync("/metrics");
        Assert.Contains("rgemma_requests_total{endpoint=\"/v1/chat/completions\",status=\"429\"} 1", metrics);
        Assert.Contains("rgemma_requests_total{endpoint=\"/v1/chat/completions\",status=\"413\"} 1", metrics);
    }

    [Fact]
    public async Task Metrics_tokenize_detokenize_and_completions()
    {
        await using var server = await TestServer.StartAsync();
        var tokenized = await server.Http.PostAsync("/tokenize", Json("""{"content": "ROMEO: hail", "with_pieces": true}"""));
        using var tokens = JsonDocument.Parse(await tokenized.Content.ReadAsStringAsync());
        var ids = tokens.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        Assert.Equal(2, ids[0]);   // <bos>
        Assert.Equal(ids.Length, tokens.RootElement.GetProperty("pieces").GetArrayLength());
        var detokenized = await server.Http.PostAsync("/detokenize", Json($$"""{"tokens": [{{string.Join(',', ids)}}]}"""));
        Assert.Contains("\"content\":\"ROMEO: hail\"", await detokenized.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await server.Http.PostAsync("/detokenize", Json("""{"tokens": [999999]}"""))).StatusCode);

        // Completions from a text and from its ids are the same; streamed they are the same text again.
        string byText = await CompletionText(server, """{"prompt": "ROMEO: hail", "max_tokens": 12, "temperature": 0}""");
        string byIds = await CompletionText(server, $$"""{"prompt": [{{string.Join(',', ids)}}], "max_tokens": 12, "temperature": 0}""");
        Assert.Equal(byText, byIds);
        var stream = await server.Http.PostAsync("/v1/completions", Json("""{"prompt": "ROMEO: hail", "max_tokens": 12, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}"""));
        string sse = await stream.Content.ReadAsStringAsync();
        var events = sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e["data: ".Length..]).ToList();
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events.SkipLast(1).Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.Equal(byText, string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString())));
        Assert.Equal(12, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        string metrics = await server.Http.GetStringAsync("/metrics");
        foreach (var name in new[] { "rgemma_requests_total", "rgemma_prompt_tokens_total", "rgemma_prompt_tokens_cached_total", "rgemma_generated_tokens_total",
            "rgemma_queue_depth", "rgemma_running_sequences", "rgemma_batch_size_bucket", "rgemma_time_to_first_token_seconds_bucket", "rgemma_inter_token_latency_seconds_count" })
            Assert.Contains("\n" + name, metrics);
        Assert.Contains("rgemma_generated_tokens_total 36", metrics);
    }

    static async Task<string> CompletionText(TestServer server, string body)
    {
        var response = await server.Http.PostAsync("/v1/completions", Json(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
    }

    [Fact]
    public async Task Cors_headers_only_for_the_named_origin()
    {
        await using var open = await TestServer.StartAsync(new ServerOptions { CorsOrigin = "http://localhost:3000" });
        await using var closed = await TestServer.StartAsync();
        foreach (var (server, expected) in new[] { (open, true), (closed, false) })
        {
            var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
            preflight.Headers.Add("Origin", "http://localhost:3000");
            preflight.Headers.Add("Access-Control-Request-Method", "POST");
            preflight.Headers.Add("Access-Control-Request-Headers", "content-type,authorization");
            var response = await server.Http.SendAsync(preflight);
            Assert.Equal(expected, response.Headers.TryGetValues("Access-Control-Allow-Origin", out var origins) && origins.Single() == "http://localhost:3000");
        }
        var other = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(Chat) };
        other.Headers.Add("Origin", "http://evil.example");
        Assert.False((await open.Http.SendAsync(other)).Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Stopping_lets_running_streams_finish_then_cancels_what_outlives_the_drain()
    {
        // A generous drain: the running stream ends normally with its finish_reason and [DONE].
        var server = await TestServer.StartAsync(new ServerOptions { DrainTimeout = TimeSpan.FromSeconds(30) });
        var response = await server.Http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json("""{"messages": [{"role": "user", "content": "Hail!"}], "max_tokens": 300, "temperature": 0, "stream": true}"""),
        }, HttpCompletionOption.ResponseHeadersRead);
        var stopping = server.Server.StopAsync();
        string sse = await response.Content.ReadAsStringAsync();
        await stopping;
        Assert.EndsWith("data: [DONE]\n\n", sse);
        Assert.Contains("\"finish_reason\":\"length\"", sse);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => server.Http.GetAsync("/health"));   // no longer listening
        server.Http.Dispose();

        // No drain time: the stream is cut and its sequence cancelled; stopping does not wait for 4096 tokens.
        var quick = await TestServer.StartAsync(new ServerOptions { DrainTimeout = TimeSpan.Zero, MaxTokensCap = 1 << 20 });
        var endless = await quick.Http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json("""{"messages": [{"role": "user", "content": "Hail!"}], "max_tokens": 1000000, "temperature": 0, "stream": true}"""),
        }, HttpCompletionOption.ResponseHeadersRead);
        var scheduler = quick.Server.Host.Generator.Scheduler;
        await quick.Server.StopAsync();
        Assert.Equal(0, scheduler.Statistics().RunningSequences);
        await Assert.ThrowsAnyAsync<Exception>(() => endless.Content.ReadAsStringAsync());
        quick.Http.Dispose();
    }
}
