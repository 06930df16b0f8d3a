using System.CommandLine;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Server;

namespace RecurrentGemma.Cli.Commands;

/// <summary>
/// rgemma serve: the OpenAI-compatible HTTP server (RecurrentGemma.Server) on the batching scheduler. It listens at
/// once, loads the model, prints its URL when ready, and on Ctrl-C or SIGTERM drains: stops accepting, lets running
/// streams finish within --drain-seconds, then cancels them.
/// </summary>
public static class ServeCommand
{
    public const string Name = "serve";
    /// <summary>System.CommandLine's wait for the action after a termination signal: past the longest drain.</summary>
    public static readonly TimeSpan TerminationTimeout = TimeSpan.FromSeconds(MaxDrainSeconds + 30);
    const int MaxDrainSeconds = 600;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new ModelOptions(demoDefault: true);
        var host = new Option<string>("--host") { Description = "address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port, 0 to 65535 (0: a free one; default 8080)", DefaultValueFactory = _ => 8080 };
        var apiKey = new Option<string?>("--api-key") { Description = "require Authorization: Bearer KEY on every route but /health and /metrics (default: $RGEMMA_API_KEY, else none)" };
        var maxSequences = new Option<int>("--max-sequences") { Description = "sequences generating at once, 1 to 65536 (default 64); each holds one constant-size state", DefaultValueFactory = _ => 64 };
        var maxQueue = new Option<int>("--max-queue") { Description = "sequences that may wait for a slot, 0 to 1048576 (default 256); past it requests get 429", DefaultValueFactory = _ => 256 };
        var maxTokensCap = new Option<int>("--max-tokens-cap") { Description = "largest max_tokens a request may ask, and the default (default 4096)", DefaultValueFactory = _ => 4096 };
        var maxPrompt = new Option<int>("--max-prompt-tokens") { Description = "longest prompt in tokens (default 32768)", DefaultValueFactory = _ => 32768 };
        var cacheMb = new Option<int>("--state-cache-mb") { Description = "memory for cached conversation states, 0 to 1048576 MB (default 1024; 0: off)", DefaultValueFactory = _ => 1024 };
        var budgetMb = new Option<int?>("--memory-budget-mb") { Description = "memory requests may make the server hold, in MB (1 to 16777216): the engine's step buffers plus every sequence's state and logits, running, queued, forked or cached; requests wait for it in the queue (default: 75% of what the machine can spare once the model is loaded, printed at start)" };
        var logLevel = new Option<string>("--log-level") { Description = "what the server logs on stderr: trace, debug, information, warning, error, critical or none (default information: the budget, every 500 and engine fault with its full exception)", DefaultValueFactory = _ => "information" };
        var cors = new Option<string?>("--cors") { Description = "let browser pages from this origin call the API, e.g. http://localhost:3000 (default: no CORS)" };
        var drain = new Option<int>("--drain-seconds") { Description = $"on shutdown, seconds running streams get to finish, 0 to {MaxDrainSeconds} (default 10)", DefaultValueFactory = _ => 10 };
        var modelName = new Option<string?>("--model-name") { Description = "model id in /v1/models and responses (default: the model folder's name)" };
        var command = new Command(Name, "Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models, /health, /metrics). What clients can make it hold is bounded by one byte budget (--memory-budget-mb): every sequence state, running, queued, forked or cached, comes out of it, and requests past it wait in the bounded queue (--max-queue) or get 429");
        model.AddTo(command, withTokenizer: true);
        foreach (var option in new Option[] { host, port, apiKey, maxSequences, maxQueue, maxTokensCap, maxPrompt, cacheMb, budgetMb, logLevel, cors, drain, modelName })
            command.Options.Add(option);
        command.SetAction(async (parse, cancellation) =>
        {
            new CountRange(0, 1 << 20).Check("--state-cache-mb", parse.GetValue(cacheMb));
            new CountRange(0, MaxDrainSeconds).Check("--drain-seconds", parse.GetValue(drain));
            if (parse.GetValue(budgetMb) is { } mb) new CountRange(1, 1 << 24).Check("--memory-budget-mb", mb);
            var level = LogLevelOf(parse.GetValue(logLevel)!);
            string spec = model.Spec(parse, stderr);
            var options = new ServerOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ApiKey = parse.GetValue(apiKey) ?? NonEmpty(Environment.GetEnvironmentVariable("RGEMMA_API_KEY")),
                MaxSequences = parse.GetValue(maxSequences),
                MaxQueue = parse.GetValue(maxQueue),
                MaxTokensCap = parse.GetValue(maxTokensCap),
                MaxPromptTokens = parse.GetValue(maxPrompt),
                StateCacheBytes = (long)parse.GetValue(cacheMb) << 20,
                MemoryBudgetBytes = parse.GetValue(budgetMb) is { } budget ? (long)budget << 20 : null,
                LogLevel = level,
                CorsOrigin = parse.GetValue(cors),
                DrainTimeout = TimeSpan.FromSeconds(parse.GetValue(drain)),
                ModelName = parse.GetValue(modelName) ?? ModelName(spec),
            };
            try { options.Validate(); }
            catch (ServerOptionException e) { throw new UsageException($"{Flag(e.Option)}: {e.Problem}"); }
            string? tokenizer = parse.GetValue(model.Tokenizer);
            var load = model.LoadOptions(parse);
            var server = await RgemmaServer.StartAsync(options, scheduler => TextGenerator.Open(spec, load, tokenizer, scheduler));
            string url = server.Urls[0];
            stderr.WriteLine($"rgemma: listening on {url}; loading {options.ModelName} ...");
            try
            {
                await server.Host.Ready.WaitAsync(cancellation);
            }
            catch (Exception)
            {
                await server.StopAsync();
                if (cancellation.IsCancellationRequested) return ExitCodes.Interrupted;
                throw;   // the loading error (a bad model folder): one line and exit 1, as every command
            }
            stderr.WriteLine($"rgemma: {server.Host.DescribeMemory()}");
            stdout.WriteLine($"rgemma: serving {options.ModelName} at {url}/v1 (OpenAI-compatible; Ctrl-C stops)");
            stdout.Flush();
            try { await Task.Delay(Timeout.Infinite, cancellation); }
            catch (OperationCanceledException) { }
            stderr.WriteLine($"rgemma: stopping: running requests get up to {options.DrainTimeout.TotalSeconds:0} s to finish");
            await server.StopAsync();
            return 0;
        });
        return command;
    }

    static readonly string[] LogLevels = ["trace", "debug", "information", "warning", "error", "critical", "none"];

    static Microsoft.Extensions.Logging.LogLevel LogLevelOf(string value)
    {
        int i = Array.IndexOf(LogLevels, value.ToLowerInvariant());
        return i >= 0 ? (Microsoft.Extensions.Logging.LogLevel)i
            : throw new UsageException($"--log-level: '{value}' is not a level; expected {string.Join(", ", LogLevels)}");
    }

    static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    static string ModelName(string spec)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(spec));
        return spec == DemoModel.Directory ? "griffin-shakespeare" : name.Length > 0 ? name : spec;
    }

    static string Flag(string option) => option switch
    {
        nameof(ServerOptions.Host) => "--host",
        nameof(ServerOptions.Port) => "--port",
        nameof(ServerOptions.ApiKey) => "--api-key",
        nameof(ServerOptions.MaxSequences) => "--max-sequences",
        nameof(ServerOptions.MaxQueue) => "--max-queue",
        nameof(ServerOptions.MaxTokensCap) => "--max-tokens-cap",
        nameof(ServerOptions.MaxPromptTokens) => "--max-prompt-tokens",
        nameof(ServerOptions.StateCacheBytes) => "--state-cache-mb",
        nameof(ServerOptions.MemoryBudgetBytes) => "--memory-budget-mb",
        nameof(ServerOptions.CorsOrigin) => "--cors",
        nameof(ServerOptions.DrainTimeout) => "--drain-seconds",
        _ => option,
    };
}
