using FsCheck.Xunit;
using RecurrentGemma.Core.IO;
using Xunit;

namespace RecurrentGemma.Tests;

/// <summary>Our managed SHA-256 equals the platform's, for the FIPS examples and random data split at random points.</summary>
public class Sha256Tests
{
    [Theory]
    [InlineData("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")]
    public void Matches_the_FIPS_180_examples(string text, string hex) =>
        Assert.Equal(hex, Convert.ToHexStringLower(Sha256.Hash(System.Text.Encoding.ASCII.GetBytes(text))));

    [Property(MaxTest = 200)]
    public bool Random_data_in_random_pieces_matches_the_platform_hash(ushort length, int seed, byte piece)
    {
        int n = length % 700, step = piece % 130 + 1;
        var data = new byte[n];
        new Random(seed).NextBytes(data);
        var sha = new Sha256();
        for (int at = 0; at < n; at += step) sha.Append(data.AsSpan(at, Math.Min(step, n - at)));
        return sha.Finish().AsSpan().SequenceEqual(System.Security.Cryptography.SHA256.HashData(data));
    }
}
