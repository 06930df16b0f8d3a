using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Server;
using RecurrentGemma.Tests.Support;
using Xunit;
using static RecurrentGemma.Tests.Support.ServerHttp;

namespace RecurrentGemma.Tests.Server;

/// <summary>
/// The memory budget and the error policy as a client and an operator meet them: a request that could never fit is a
/// 400 with the numbers, one that must wait waits, the budget is in /metrics, text too long to fit is refused before
/// BPE on every route, and a server-side failure is a 500 whose full exception is in the log and not in the response.
/// </summary>
public sealed class ServerBudgetTests
{
    /// <summary>A budget of the demo's engine buffers and exactly <paramref name="blocks"/> sequences.</summary>
    static long BudgetFor(int blocks)
    {
        using var generator = TextGenerator.Open(TestData.DemoModel, schedulerOptions: new SchedulerOptions { MaxRunningSequences = 64, MemoryBudgetBytes = long.MaxValue });
        var probe = new MemoryBudget(generator.Model.Config, long.MaxValue / 2, generator.Scheduler.FixedBytes, historyTokens: new ServerOptions().MaxPromptTokens + new ServerOptions().MaxTokensCap);
        return probe.FixedBytes + blocks * probe.BlockBytes + probe.BlockBytes / 2;
    }

    [Fact]
    public async Task A_request_that_could_never_fit_is_400_with_the_numbers_and_one_that_must_wait_waits()
    {
        await using var server = await TestServer.StartAsync(new ServerOptions { MemoryBudgetBytes = BudgetFor(3), StateCacheBytes = 0 });
        Assert.Equal(3, server.Server.Host.Memory.MaxBlocks);
        // n = 3 needs only two blocks at once (the prompt's state and one continuation): it fits, its choices take turns.
        var three = await server.Http.PostAsync("/v1/chat/completions", Json("""{"messages": [{"role": "user", "content": "Hail!"}], "n": 3, "max_tokens": 6, "temperature": 0.9, "seed": 3}"""));
        Assert.Equal(HttpStatusCode.OK, three.StatusCode);
        using (var body = JsonDocument.Parse(await three.Content.ReadAsStringAsync()))
            Assert.Equal(3, body.RootElement.GetProperty("choices").GetArrayLength());
        // Four requests at once on three blocks: they wait their turn, and all are answered.
        var many = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => server.Http.PostAsync("/v1/chat/completions",
            Json($$"""{"messages": [{"role": "user", "content": "Speak {{i}}"}], "n": 2, "max_tokens": 5}"""))));
        Assert.All(many, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        await server.WaitIdleAsync();
        Assert.Equal(0, server.Server.Host.Memory.BlocksInUse);

        string metrics = await server.Http.GetStringAsync("/metrics");
        Assert.Contains($"rgemma_memory_budget_bytes {server.Server.Host.Memory.CapacityBytes}", metrics);
        Assert.Contains($"rgemma_memory_used_bytes {server.Server.Host.Memory.FixedBytes}", metrics);
        Assert.Contains("rgemma_memory_idle_bytes ", metrics);

        await using var tiny = await TestServer.StartAsync(new ServerOptions { MemoryBudgetBytes = BudgetFor(1) });
        var refused = await tiny.Http.PostAsync("/v1/chat/completions", Json("""{"messages": [{"role": "user", "content": "Hail!"}], "n": 2}"""));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var error = await ErrorOf(refused);
        Assert.Equal("n", error.GetProperty("param").GetString());
        Assert.Equal("insufficient_memory", error.GetProperty("code").GetString());
        Assert.Contains("holds 1 (--memory-budget-mb)", error.GetProperty("message").GetString());
        Assert.Contains("at most 1 sequences", tiny.Server.Host.DescribeMemory());
    }

    [Fact]
    public async Task Text_too_long_to_fit_is_refused_before_tokenizing_on_every_route()
    {
        await using var server = await TestServer.StartAsync(new ServerOptions { MaxPromptTokens = 100 });
        int max = server.Server.Host.Tokenizer.MaxPieceChars;
        string text = new('x', max * 100 + 1);
        foreach (var (path, body, field) in new[]
        {
            ("/v1/chat/completions", $$"""{"messages": [{"role": "user", "content": "{{text}}"}]}""", "messages"),
            ("/v1/completions", $$"""{"prompt": "{{text}}"}""", "prompt"),
            ("/tokenize", $$"""{"content": "{{text}}"}""", "content"),
        })
        {
            var response = await server.Http.PostAsync(path, Json(body));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var error = await ErrorOf(response);
            Assert.Equal(field, error.GetProperty("param").GetString());
            Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
            Assert.Equal($"{field}: the text has {text.Length} characters, which is at least 101 tokens (no token of this tokenizer covers more than {max} characters); "
                + "this server accepts at most 100 (--max-prompt-tokens)", error.GetProperty("message").GetString());
        }
        // Just under the bound, the text is tokenized and the exact count decides.
        var tokenized = await server.Http.PostAsync("/tokenize", Json($$"""{"content": "{{new string('x', 50)}}"}"""));
        Assert.Equal(HttpStatusCode.OK, tokenized.StatusCode);
    }

    [Fact]
    public async Task Slow_senders_of_large_bodies_are_dropped_and_do_not_hold_the_parsing_places()
    {
        await using var server = await TestServer.StartAsync();
        var uri = new Uri(server.Url);
        var slow = new List<System.Net.Sockets.TcpClient>();
        using var stop = new CancellationTokenSource();
        var trickles = new List<Task>();
        byte[] chunk = Encoding.ASCII.GetBytes(new string('a', 1000));
        try
        {
            // Every parsing place taken by a client that sends its 2 MB body at 5 KB/s: above Kestrel's default floor (240 B/s), far
            // below the pace a large body must keep.
            for (int i = 0; i < RecurrentGemma.Server.Requests.RequestReader.LargeBodiesAtOnce; i++)
            {
                var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(uri.Host, uri.Port);
                slow.Add(client);
                var stream = client.GetStream();
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /tokenize HTTP/1.1\r\nHost: {uri.Authority}\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{{\"content\": \""));
                trickles.Add(Task.Run(async () =>
                {
                    try { while (!stop.IsCancellationRequested) { await stream.WriteAsync(chunk); await Task.Delay(200); } }
                    catch (Exception) { }   // dropped by the server: what this test wants
                }));
            }
            await Task.Delay(500);
            // A large body from a normal client still gets its answer: the slow ones lose their places within seconds.
            var response = await server.Http.PostAsync("/tokenize", Json($$"""{"content": "{{new string('b', 100_000)}}"}""")).WaitAsync(TimeSpan.FromSeconds(40));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(trickles);
            foreach (var client in slow) client.Dispose();
        }
    }

    [Fact]
    public async Task A_server_side_failure_is_a_500_logged_with_its_full_exception_and_never_shown()
    {
        var log = new CapturingLogger();
        var server = await RgemmaServer.StartAsync(new ServerOptions { Port = 0 }, scheduler => TextGenerator.Open(TestData.DemoModel, schedulerOptions: scheduler), log);
        try
        {
            await server.Host.Ready.WaitAsync(TimeSpan.FromSeconds(60));
            server.Host.Generator.Scheduler.BeforePass = () => throw new InvalidOperationException("the disk caught fire");
            using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]) };
            var response = await http.PostAsync("/v1/chat/completions", Json("""{"messages": [{"role": "user", "content": "Hail!"}], "max_tokens": 4}"""));
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
            string body = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain("   at ", body);
            Assert.DoesNotContain("InvalidOperationException", body);
            var entry = Assert.Single(log.Entries, e => e.Level == LogLevel.Error);
            Assert.Contains("the disk caught fire", entry.Text);
            Assert.Contains("InvalidOperationException", entry.Text);   // the full exception, stack included
            Assert.Contains("   at ", entry.Text);
            server.Host.Generator.Scheduler.BeforePass = null;
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/v1/chat/completions", Json("""{"messages": [{"role": "user", "content": "Hail!"}], "max_tokens": 4}"""))).StatusCode);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    sealed class CapturingLogger : ILoggerProvider, ILogger
    {
        public readonly ConcurrentQueue<(LogLevel Level, string Text)> Entries = new();
        public ILogger CreateLogger(string categoryName) => categoryName.StartsWith("RecurrentGemma", StringComparison.Ordinal) ? this : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue((logLevel, formatter(state, exception) + (exception is null ? "" : "\n" + exception)));
        public void Dispose() { }
    }
}
