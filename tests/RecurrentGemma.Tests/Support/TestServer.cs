using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Chat;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Server;

namespace RecurrentGemma.Tests.Support;

/// <summary>A real rgemma server (Kestrel on a free loopback port) on the demo model or another, and clients for it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public RgemmaServer Server { get; }
    public string Url { get; }
    public HttpClient Http { get; }

    TestServer(RgemmaServer server)
    {
        Server = server;
        Url = server.Urls[0];
        Http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(120) };
    }

    public static Task<TestServer> StartAsync(ServerOptions? options = null) =>
        StartAsync(options, scheduler => TextGenerator.Open(TestData.DemoModel, schedulerOptions: scheduler));

    public static async Task<TestServer> StartAsync(ServerOptions? options, Func<SchedulerOptions, TextGenerator> open, bool waitReady = true)
    {
        var server = await RgemmaServer.StartAsync((options ?? new ServerOptions()) with { Port = 0 }, open);
        if (waitReady) await server.Host.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        return new TestServer(server);
    }

    /// <summary>The official OpenAI .NET client pointed at this server; no retries, so a 429 or 503 is seen as it is.</summary>
    public ChatClient Chat(string apiKey = "no-key") => new("griffin-shakespeare", new ApiKeyCredential(apiKey), ClientOptions);

    public OpenAIClient Client(string apiKey = "no-key") => new(new ApiKeyCredential(apiKey), ClientOptions);

    OpenAIClientOptions ClientOptions => new()
    {
        Endpoint = new Uri(Url + "/v1"),
        RetryPolicy = new ClientRetryPolicy(0),
        NetworkTimeout = TimeSpan.FromSeconds(120),
        Transport = new HttpClientPipelineTransport(ClosingHttp),
    };

    /// <summary>
    /// .NET's default handler reads up to 1 MB of an abandoned response to keep the connection (a whole demo-model answer),
    /// so a client that stops reading would not look gone; this one closes the connection, as a browser tab or a killed
    /// process does.
    /// </summary>
    static readonly HttpClient ClosingHttp = new(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>Waits until no sequence is admitted or running (every request's slot given back).</summary>
    public async Task WaitIdleAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (Server.Host.Admission.InFlight != 0 || Server.Host.Generator.Scheduler.Statistics().RunningSequences != 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"still {Server.Host.Admission.InFlight} admitted after 30 s");
            await Task.Delay(20);
        }
    }

    /// <summary>What the library generates for these messages alone (no server, no batch, no cache): the reference.</summary>
    public static async Task<string> AloneAsync(TextGenerator generator, IReadOnlyList<Core.Generation.ChatTurn> messages, SamplingParameters parameters)
    {
        var prompt = ChatPrompt.Encode(generator.Tokenizer!, messages);
        var session = generator.CreateSession();
        var text = new System.Text.StringBuilder();
        await foreach (var token in session.GenerateAsync(prompt.Ids, parameters)) text.Append(token.Text);
        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}
