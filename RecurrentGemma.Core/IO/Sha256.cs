using System.Buffers.Binary;
using System.Numerics;

namespace RecurrentGemma.Core.IO;

/// <summary>
/// SHA-256 (FIPS 180-4) in managed code: snapshot checksums and the demo model's cache key. .NET's own SHA256 calls
/// OpenSSL on Linux, which edge devices and minimal containers may not have (the NativeAOT arm64 build aborted with
/// "No usable version of libssl was found"); this needs nothing. Checked against System.Security.Cryptography in tests.
/// </summary>
public sealed class Sha256
{
    static ReadOnlySpan<uint> K =>
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    readonly uint[] _h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    readonly byte[] _pending = new byte[64];
    readonly uint[] _w = new uint[64];
    int _pendingBytes;
    ulong _totalBytes;

    public static byte[] Hash(ReadOnlySpan<byte> data)
    {
        var sha = new Sha256();
        sha.Append(data);
        return sha.Finish();
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        _totalBytes += (ulong)data.Length;
        if (_pendingBytes > 0)
        {
            int take = Math.Min(64 - _pendingBytes, data.Length);
            data[..take].CopyTo(_pending.AsSpan(_pendingBytes));
            _pendingBytes += take;
            data = data[take..];
            if (_pendingBytes < 64) return;
            Compress(_pending);
            _pendingBytes = 0;
        }
        for (; data.Length >= 64; data = data[64..]) Compress(data[..64]);
        data.CopyTo(_pending);
        _pendingBytes = data.Length;
    }

    /// <summary>The 32-byte digest of everything appended (the instance is spent afterwards).</summary>
    public byte[] Finish()
    {
        ulong bits = _totalBytes * 8;
        Span<byte> tail = stackalloc byte[128];
        tail.Clear();
        _pending.AsSpan(0, _pendingBytes).CopyTo(tail);
        tail[_pendingBytes] = 0x80;
        int length = _pendingBytes < 56 ? 64 : 128;
        BinaryPrimitives.WriteUInt64BigEndian(tail[(length - 8)..], bits);
        Compress(tail[..64]);
        if (length == 128) Compress(tail[64..]);
        var digest = new byte[32];
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteUInt32BigEndian(digest.AsSpan(4 * i), _h[i]);
        return digest;
    }

    void Compress(ReadOnlySpan<byte> block)
    {
        var w = _w;
        for (int t = 0; t < 16; t++) w[t] = BinaryPrimitives.ReadUInt32BigEndian(block[(4 * t)..]);
        for (int t = 16; t < 64; t++)
        {
            uint s0 = BitOperations.RotateRight(w[t - 15], 7) ^ BitOperations.RotateRight(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint s1 = BitOperations.RotateRight(w[t - 2], 17) ^ BitOperations.RotateRight(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint a = _h[0], b = _h[1], c = _h[2], d = _h[3], e = _h[4], f = _h[5], g = _h[6], h = _h[7];
        var k = K;
        for (int t = 0; t < 64; t++)
        {
            uint t1 = h + (BitOperations.RotateRight(e, 6) ^ BitOperations.RotateRight(e, 11) ^ BitOperations.RotateRight(e, 25))
                + ((e & f) ^ (~e & g)) + k[t] + w[t];
            uint t2 = (BitOperations.RotateRight(a, 2) ^ BitOperations.RotateRight(a, 13) ^ BitOperations.RotateRight(a, 22))
                + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        _h[0] += a; _h[1] += b; _h[2] += c; _h[3] += d; _h[4] += e; _h[5] += f; _h[6] += g; _h[7] += h;
    }
}
