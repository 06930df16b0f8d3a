using System.Text;

// Standard input is read as strict UTF-8, so a prompt with invalid bytes is refused rather than silently mangled.
var stdin = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: false);
return RecurrentGemma.Cli.CliApp.Run(args, stdin, Console.Out, Console.Error, stderrIsTerminal: !Console.IsErrorRedirected);
