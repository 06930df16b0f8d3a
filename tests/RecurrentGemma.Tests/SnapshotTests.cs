using System.Security.Cryptography;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Tests.Support;
using Xunit;
using static RecurrentGemma.Tests.Support.TokenStreams;

namespace RecurrentGemma.Tests;

/// <summary>Conversation snapshots and forks continue bit-identically; damaged or foreign files are refused.</summary>
public class SnapshotTests
{
    static readonly SamplingParameters Sampled = new() { Temperature = 0.9f, TopK = 30, Seed = 4, MaxTokens = 15 };

    [Fact]
    public async Task Save_then_load_continues_exactly_as_never_stopping()
    {
        using var generator = TextGenerator.Open(TestData.DemoModel);
        string file = Path.Combine(TestData.NewTempDirectory(), "chat.rgstate");
        var original = generator.CreateSession();
        await Ids(original.GenerateAsync("ROMEO:", Sampled));
        original.SaveSnapshot(file);
        int[] expected = await Ids(original.GenerateAsync([], Sampled with { Seed = 9 }));

        var restored = generator.CreateSession();
        restored.LoadSnapshot(file);
        Assert.Equal(expected, await Ids(restored.GenerateAsync([], Sampled with { Seed = 9 })));
        Assert.Equal(original.History, restored.History);
        Assert.Equal(original.Position, restored.Position);
    }

    [Fact]
    public async Task Forks_of_one_prefix_continue_like_the_original()
    {
        using var generator = TextGenerator.Open(TestData.DemoModel);
        var root = generator.CreateSession();
        root.Append(generator.RequireTokenizer().Encode("KING RICHARD:\nA horse!", addBos: true));
        var fork = root.Fork();
        var other = root.Fork();
        int[] a = await Ids(root.GenerateAsync([], Sampled));
        Assert.Equal(a, await Ids(fork.GenerateAsync([], Sampled)));
        Assert.NotEqual(a, await Ids(other.GenerateAsync([], Sampled with { Seed = 77 })));
    }

    static string SavedFile(TextGenerator generator)
    {
        string file = Path.Combine(TestData.NewTempDirectory(), "s.rgstate");
        var s = generator.CreateSession();
        s.Append([2, 10, 11, 12]);
        s.SaveSnapshot(file);
        return file;
    }

    [Fact]
    public void Damaged_foreign_and_missing_snapshots_are_refused()
    {
        using var generator = TextGenerator.Open(TestData.DemoModel);
        var session = generator.CreateSession();
        string file = SavedFile(generator);
        byte[] good = File.ReadAllBytes(file);

        string Refused(byte[] bytes)
        {
            File.WriteAllBytes(file, bytes);
            return Assert.Throws<SnapshotException>(() => session.LoadSnapshot(file)).Message;
        }
        var flipped = (byte[])good.Clone();
        flipped[good.Length / 2] ^= 0x10;
        Assert.Contains("checksum mismatch", Refused(flipped));
        Assert.Contains("checksum mismatch", Refused(good[..^100]));
        Assert.Contains("not a RecurrentGemma state snapshot", Refused([1, 2, 3]));
        // A newer version with a valid checksum: refused by version, not by damage.
        var future = good[..^32];
        future[8] = 2;
        Assert.Contains("snapshot version 2", Refused([.. future, .. SHA256.HashData(future)]));
        Assert.Contains("does not exist", Assert.Throws<SnapshotException>(() => session.LoadSnapshot(file + ".missing")).Message);

        File.WriteAllBytes(file, good);
        string dir = TestData.NewTempDirectory();
        new RandomModelSpec(Vocab: 2048).WriteConfig(dir);
        using var other = TextGenerator.Open("random:" + Path.Combine(dir, "config.json"));
        var e = Assert.Throws<SnapshotException>(() => other.CreateSession().LoadSnapshot(file));
        Assert.Contains("saved for a model of shape", e.Message);
        // A refused load leaves the session as it was.
        Assert.Equal(0, session.Position);
    }

    [Fact]
    public void Saving_replaces_the_file_atomically()
    {
        using var generator = TextGenerator.Open(TestData.DemoModel);
        string file = SavedFile(generator);
        var s = generator.CreateSession();
        s.Append([2, 5]);
        s.SaveSnapshot(file);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(file)!));
        var back = generator.CreateSession();
        back.LoadSnapshot(file);
        Assert.Equal([2, 5], back.History);
    }

    [Fact]
    public void Chat_save_and_load_commands()
    {
        string file = Path.Combine(TestData.NewTempDirectory(), "c.rgstate");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Cli.CliApp.Run(["chat", "--max-tokens", "8"], new StringReader($"ROMEO:\n/save {file}\n/load /nonexistent.rgstate\n/load {file}\nMore?\n"), stdout, stderr);
        Assert.Equal(0, code);
        Assert.Contains($"conversation saved to {file}", stderr.ToString());
        Assert.Contains("rgemma: error: snapshot /nonexistent.rgstate does not exist", stderr.ToString());
        Assert.Contains($"conversation loaded from {file}", stderr.ToString());
    }
}
