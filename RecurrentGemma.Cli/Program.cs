return RecurrentGemma.Cli.CliApp.Run(args, Console.Out, Console.Error);
