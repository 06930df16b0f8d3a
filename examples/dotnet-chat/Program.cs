// dotnet-chat: two turns of a conversation through Microsoft.Extensions.AI's IChatClient on a RecurrentGemma model.
// Usage: dotnet run -- MODEL_DIR   (a folder with config.json, *.safetensors and tokenizer.model; the repository's
// RecurrentGemma.Cli/demo is the built-in demo model)
using Microsoft.Extensions.AI;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Extensions.AI;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: dotnet-chat MODEL_DIR");
    return 2;
}
using var generator = TextGenerator.Open(args[0]);
IChatClient chat = generator.AsIChatClient();
var options = new ChatOptions { MaxOutputTokens = 48, Seed = 1 };

List<ChatMessage> history = [new(ChatRole.System, "Answer as a herald of the court."), new(ChatRole.User, "What news from the king?")];
Console.WriteLine("> What news from the king?");
ChatResponse first = await chat.GetResponseAsync(history, options);
Console.WriteLine(first.Text);
Console.WriteLine($"[{first.Usage?.InputTokenCount} prompt tokens, {first.Usage?.OutputTokenCount} generated, finish: {first.FinishReason}]");

history.AddRange(first.Messages);
history.Add(new(ChatRole.User, "And what of the queen?"));
Console.WriteLine("> And what of the queen?");
UsageDetails? usage = null;
await foreach (var update in chat.GetStreamingResponseAsync(history, options))
{
    Console.Write(update.Text);
    usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details ?? usage;
}
Console.WriteLine();
Console.WriteLine($"[{usage?.InputTokenCount} prompt tokens, {usage?.CachedInputTokenCount} of them from the cached conversation state]");
var metadata = chat.GetService<ChatClientMetadata>();
Console.WriteLine($"provider {metadata?.ProviderName}, model {metadata?.DefaultModelId}");
return 0;
