using System.CommandLine;
using RecurrentGemma.Cli.Commands;
using RecurrentGemma.Core;

namespace RecurrentGemma.Cli;

/// <summary>rgemma's entry point: parses, dispatches, and turns every user error into one line on stderr plus an exit code.</summary>
public static class CliApp
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, TextReader.Null, stdout, stderr);

    /// <param name="stderrIsTerminal">Whether progress bars may be drawn on stderr.</param>
    public static int Run(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, bool stderrIsTerminal = false)
    {
        var progress = new ProgressBar(stderr, stderrIsTerminal);
        var root = new RootCommand("rgemma: RecurrentGemma (Griffin) inference on the CPU, in pure .NET")
        {
            ForwardCommand.Create(stdout),
            BenchCommand.Create(stdout, stderr),
            GenerateCommand.Create(stdin, stdout, stderr, progress),
            ChatCommand.Create(stdin, stdout, stderr, progress),
            InfoCommand.Create(stdout, stderr, progress),
            PerplexityCommand.Create(stdout, stderr, progress),
            TokenizeCommands.Tokenize(stdin, stdout),
            TokenizeCommands.Detokenize(stdin, stdout),
            ServeCommand.Create(stdout, stderr),
            ConvertCommand.Create(stdout, stderr, progress),
        };
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // All parse errors on one line: the first alone can be unhelpful ("Required command was not provided" for a typo).
            var messages = new List<string>();
            foreach (var error in parsed.Errors) messages.Add(error.Message.TrimEnd('.'));
            stderr.WriteLine($"rgemma: error: {string.Join("; ", messages)} (see 'rgemma --help')");
            return ExitCodes.Usage;
        }
        try
        {
            var configuration = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
            // A server drains on Ctrl-C / SIGTERM (up to --drain-seconds) instead of being cut off after the default 2 s.
            if (parsed.CommandResult.Command.Name == ServeCommand.Name) configuration.ProcessTerminationTimeout = ServeCommand.TerminationTimeout;
            return parsed.Invoke(configuration);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"rgemma: error: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (RecurrentGemmaException e)
        {
            stderr.WriteLine($"rgemma: error: {e.Message}");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"rgemma: error: {e.Message}");
            return ExitCodes.Failure;
        }
    }
}
