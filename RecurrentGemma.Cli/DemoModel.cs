using System.Reflection;
using System.Text;
using RecurrentGemma.Core.IO;

namespace RecurrentGemma.Cli;

/// <summary>
/// The built-in demo model (griffin-shakespeare) lives inside rgemma as embedded resources, so the single-file and
/// NativeAOT binaries carry it. Loading memory-maps files, so on first use the resources are unpacked once into a
/// per-user cache folder named by their SHA-256, hashed at build time (written to a temporary folder, then renamed into place: a concurrent
/// first run or an interrupted one never leaves a half-written model); later runs map that folder directly.
/// </summary>
public static class DemoModel
{
    /// <summary>The checkpoint files, as embedded under the logical names "demo/&lt;file&gt;".</summary>
    public static readonly string[] Files = ["config.json", "model.safetensors", "tokenizer.model"];

    static readonly Lazy<string> Unpacked = new(() =>
    {
        string root = CacheRoot();
        try
        {
            return UnpackInto(root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot unpack the built-in demo model into {root}: {e.Message} (set RGEMMA_CACHE to a writable folder)", e);
        }
    });

    /// <summary>The folder holding the demo checkpoint, unpacking it on first use.</summary>
    public static string Directory => Unpacked.Value;

    /// <summary>$RGEMMA_CACHE, else $XDG_CACHE_HOME/rgemma, else ~/.cache/rgemma (the temp folder when there is no home).</summary>
    public static string CacheRoot()
    {
        if (Environment.GetEnvironmentVariable("RGEMMA_CACHE") is { Length: > 0 } explicitRoot) return explicitRoot;
        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "rgemma");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return home.Length > 0 ? Path.Combine(home, ".cache", "rgemma") : Path.Combine(Path.GetTempPath(), "rgemma");
    }

    /// <summary>16 hex digits of SHA-256 over the files' SHA-256s, which the build computed (HashDemoModel in the csproj).</summary>
    static string Key()
    {
        foreach (var a in typeof(DemoModel).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>())
            if (a.Key == "DemoModelSha256" && a.Value is { Length: > 0 } hashes)
                return Convert.ToHexStringLower(Sha256.Hash(Encoding.ASCII.GetBytes(hashes)))[..16];
        throw new InvalidOperationException("rgemma was built without its demo model's hash (the HashDemoModel build step)");
    }

    static Stream Open(string file) =>
        typeof(DemoModel).Assembly.GetManifestResourceStream("demo/" + file)
        ?? throw new InvalidOperationException($"rgemma was built without its demo model (resource demo/{file} is missing)");

    /// <summary>Unpacks the demo checkpoint under <paramref name="cacheRoot"/> unless already there; returns its folder.</summary>
    public static string UnpackInto(string cacheRoot)
    {
        string target = Path.Combine(cacheRoot, "demo-" + Key());
        if (System.IO.Directory.Exists(target)) return target;

        string staging = $"{target}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        System.IO.Directory.CreateDirectory(staging);
        try
        {
            foreach (string file in Files)
            {
                using var source = Open(file);
                using var destination = File.Create(Path.Combine(staging, file));
                source.CopyTo(destination);
            }
            System.IO.Directory.Move(staging, target);
        }
        catch (IOException) when (System.IO.Directory.Exists(target))
        {
            // Another process unpacked the same model first: use theirs.
        }
        finally
        {
            if (System.IO.Directory.Exists(staging)) System.IO.Directory.Delete(staging, recursive: true);
        }
        return target;
    }
}
