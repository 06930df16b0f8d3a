using FsCheck.Xunit;
using RecurrentGemma.Core;
using RecurrentGemma.Core.Generation;
using RecurrentGemma.Core.IO;
using RecurrentGemma.Core.Sampling;
using RecurrentGemma.Core.Serving;
using RecurrentGemma.Core.Tokenizer;
using RecurrentGemma.Tests.Support;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>
/// Random byte corruption and truncation of the files a user hands us (tokenizer.model, state snapshots) gives only
/// the documented exception (TokenizerException, SnapshotException), never another exception or a crash; what loads
/// anyway works. (The checkpoint loader's own property is in <see cref="SafetensorsLoaderTests"/>.)
/// </summary>
public class CorruptionPropertyTests
{
    static readonly byte[] DemoTokenizer = File.ReadAllBytes(Path.Combine(TestData.DemoModel, GemmaTokenizer.FileName));
    static readonly Lazy<TextGenerator> Demo = new(() => TextGenerator.Open(TestData.DemoModel));
    static readonly Lazy<byte[]> Snapshot = new(() =>
    {
        var session = Demo.Value.CreateSession();
        foreach (var _ in session.GenerateAsync([2, 817, 2007], new SamplingParameters { MaxTokens = 5 }).ToBlockingEnumerable()) { }
        return session.SaveSnapshot();
    });

    static byte[] Corrupt(byte[] original, Random rng, int flips, bool truncate, int focus)
    {
        var bytes = (byte[])original.Clone();
        for (int i = 0; i < flips; i++)
        {
            int at = rng.Next(3) == 0 ? rng.Next(bytes.Length) : rng.Next(Math.Min(focus, bytes.Length));
            bytes[at] = (byte)rng.Next(256);
        }
        if (truncate) Array.Resize(ref bytes, rng.Next(bytes.Length));
        return bytes;
    }

    [Property(MaxTest = 150)]
    public void A_corrupt_tokenizer_model_is_a_TokenizerException_or_loads_and_works(int seed, byte flips, bool truncate)
    {
        var rng = new Random(seed);
        var bytes = Corrupt(DemoTokenizer, rng, 1 + flips % 8, truncate, DemoTokenizer.Length);
        string file = Path.Combine(TestData.NewTempDirectory(), GemmaTokenizer.FileName);
        File.WriteAllBytes(file, bytes);
        try
        {
            var tokenizer = GemmaTokenizer.Load(file);
            int[] ids = tokenizer.Encode("ROMEO: O, wilt thou 🌹 leave me?\n\n", addBos: true);
            tokenizer.Decode(ids);
            var stream = tokenizer.CreateStreamingDecoder();
            foreach (int id in ids) stream.Append(id);
            stream.Flush();
        }
        catch (TokenizerException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }
    }

    [Property(MaxTest = 60)]
    public void A_corrupt_snapshot_is_a_SnapshotException(int seed, byte flips, bool truncate)
    {
        var rng = new Random(seed);
        var bytes = Corrupt(Snapshot.Value, rng, 1 + flips % 8, truncate, 256);
        var session = Demo.Value.CreateSession();
        Assert.Throws<SnapshotException>(() => session.LoadSnapshot(bytes));   // the checksum catches any change
        Assert.Equal(0, session.Position);                                    // and nothing was restored
    }

    /// <summary>Damage with a valid checksum (a forged or buggy writer): the parser itself must hold.</summary>
    [Property(MaxTest = 100)]
    public void A_resealed_corrupt_snapshot_is_a_SnapshotException_or_continues_cleanly(int seed, byte flips, bool truncate)
    {
        var rng = new Random(seed);
        var body = Corrupt(Snapshot.Value[..^32], rng, 1 + flips % 8, truncate, 256);
        byte[] bytes = [.. body, .. Sha256.Hash(body)];
        var session = Demo.Value.CreateSession();
        try
        {
            session.LoadSnapshot(bytes);
        }
        catch (SnapshotException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
            return;
        }
        // It parsed: every value in it passed the checks, so generation goes on without an error.
        foreach (var _ in session.GenerateAsync([5], new SamplingParameters { MaxTokens = 3 }).ToBlockingEnumerable()) { }
        Assert.NotNull(session.LastUsage);
    }
}
